import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '@baton/devtools';
import { generateSecret } from '@baton/webhooks';
import { Baton } from './support/baton.ts';

/**
 * `@baton/client` as another app gets it: `npm pack` (its prepack builds dist/), the tarball
 * installed into a scratch project in a temp dir (offline: it has no dependencies), then a
 * plain Node ESM script and a `tsc --noEmit` of a TypeScript file that use it against a real Baton.
 */

const run = promisify(execFile);
const KEY = 'key-client-package';
const SECRET = generateSecret();
const TSC = path.join(ROOT, 'node_modules/.bin/tsc');

let baton: Baton;
let scratch: string;
let tarball: string;
let packed: { files: { path: string }[] };

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'baton-client-'));
  // One after the other: the build (tsc) and the processes' start share two cores.
  const pack = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: path.join(ROOT, 'packages/client') });
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: { API_KEYS: KEY, WEBHOOK_ALLOW_PRIVATE: 'true' } });
  packed = (JSON.parse(pack.stdout) as (typeof packed & { filename: string })[])[0]!;
  tarball = path.join(scratch, (packed as unknown as { filename: string }).filename);
  await writeFile(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: scratch });
}, 180_000);
afterAll(async () => {
  await baton?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Uses the installed package as an app would: every call family, errors, and a verified webhook. */
const SCRIPT = `
import http from 'node:http';
import { BatonClient, BatonError } from '@baton/client';
import { verify } from '@baton/client/webhooks';

const client = new BatonClient({ baseUrl: process.env.BATON_URL, apiKey: process.env.BATON_API_KEY });
const hooks = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d)).on('end', () => {
    hooks.push(verify(body, req.headers, process.env.WEBHOOK_SECRET));
    res.end('ok');
  });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const webhook = { url: 'http://127.0.0.1:' + receiver.address().port + '/', secret: process.env.WEBHOOK_SECRET };

const { session_id } = await client.createSession({ webhook });
const accepted = await client.sendMessage(session_id, 'from a packed client');
const done = await client.waitForTurn(session_id, { timeoutS: 30 });
const history = await client.messages(session_id);
while (hooks.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
const missing = await client.getSession('00000000-0000-4000-8000-000000000000').catch((err) => err);
const resume = await client.resume(session_id, { interruptId: 'nope', value: { approved: true } }).catch((err) => err);
receiver.close();
console.log(JSON.stringify({
  queued: accepted.queued,
  status: done.status,
  reply: done.response.content,
  history: history.map((m) => m.role + ': ' + m.content),
  webhook: { id: hooks[0].id, type: hooks[0].payload.type, turn_id: hooks[0].payload.turn_id, matches: hooks[0].payload.turn_id === accepted.turn_id },
  missing: missing instanceof BatonError && [missing.status, missing.code],
  resumeError: resume instanceof BatonError,
}));
`;

/** Typechecked against the package's .d.ts files alone (no @types/node, skipLibCheck off). */
const TYPED = `
import { BatonClient, BatonError, type Interrupt, type SessionResponse, type StreamEvent } from '@baton/client';
import { verify, type VerifiedWebhook } from '@baton/client/webhooks';

export async function approveAll(client: BatonClient, id: string): Promise<SessionResponse> {
  let session = await client.waitForTurn(id, { timeoutS: 60 });
  while (session.status === 'interrupted') {
    const pending: Interrupt[] = session.interrupts ?? [];
    for (const interrupt of pending) {
      const value = interrupt.type === 'tool_approval' ? { approved: true } : 'yes';
      const resumed: { session_id: string; status: SessionResponse['status'] } = await client.resume(id, { interruptId: interrupt.interrupt_id, value });
      void resumed;
    }
    session = await client.waitForTurn(id, { timeoutS: 60 });
  }
  return session;
}

export function text(event: StreamEvent): string {
  if (event.event === 'delta') return event.data.content;
  if (event.event === 'message') return event.data.message.content ?? '';
  return '';
}

export function check(body: string, headers: Record<string, string>): VerifiedWebhook['payload']['type'] {
  return verify(body, headers, 'whsec_abc=').payload.type;
}

export function code(err: unknown): string | null {
  return err instanceof BatonError ? err.code : null;
}

// The types are real, not \`any\`: each line below must be an error.
// @ts-expect-error not a status
export const bogus: SessionResponse['status'] = 'sleeping';
// @ts-expect-error resume needs interruptId and value
export const incomplete = (client: BatonClient) => client.resume('id', {});
// @ts-expect-error not a busy policy
export const policy = (client: BatonClient) => client.sendMessage('id', 'x', { ifBusy: 'shout' });
`;

describe('@baton/client packed with npm pack', () => {
  it('the tarball holds built JavaScript and .d.ts files, an exports map and no dependencies', async () => {
    const files = packed.files.map((f) => f.path).sort();
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/webhooks.js');
    expect(files).toContain('dist/webhooks.d.ts');
    // No TypeScript sources, no tests.
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => f.includes('test'))).toEqual([]);

    const installed = path.join(scratch, 'node_modules/@baton/client');
    const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8'));
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.peerDependencies ?? {}).toEqual({});
    expect(manifest.exports['.']).toMatchObject({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(manifest.exports['./webhooks']).toMatchObject({ types: './dist/webhooks.d.ts', default: './dist/webhooks.js' });
    // The install brought nothing else.
    expect(await readdir(path.join(scratch, 'node_modules'))).toEqual(expect.arrayContaining(['@baton']));
    expect((await readdir(path.join(scratch, 'node_modules'))).filter((d) => !d.startsWith('.'))).toEqual(['@baton']);
  });

  it('a plain Node ESM script uses it against a real Baton: a turn, the history, a verified webhook, errors', async () => {
    await writeFile(path.join(scratch, 'app.mjs'), SCRIPT);
    const { stdout } = await run(process.execPath, ['app.mjs'], {
      cwd: scratch,
      env: { PATH: process.env.PATH ?? '', BATON_URL: baton.url, BATON_API_KEY: KEY, WEBHOOK_SECRET: SECRET },
      timeout: 60_000,
    });
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({
      queued: false,
      status: 'idle',
      reply: 'echo: from a packed client',
      history: ['user: from a packed client', 'assistant: echo: from a packed client'],
      webhook: { type: 'turn.completed', matches: true },
      missing: [404, 'session_not_found'],
      resumeError: true,
    });
    expect(out.webhook.id).toBe(`msg_${out.webhook.turn_id}`);
  });

  it('a TypeScript file importing it typechecks with tsc --noEmit (strict, its .d.ts files only)', async () => {
    await writeFile(path.join(scratch, 'typed.ts'), TYPED);
    const tsconfig = {
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] },
      files: ['typed.ts'],
    };
    await writeFile(path.join(scratch, 'tsconfig.json'), JSON.stringify(tsconfig));
    const result = await run(TSC, ['-p', 'tsconfig.json'], { cwd: scratch }).then(
      (r) => ({ code: 0, out: r.stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
    );
    expect(result).toEqual({ code: 0, out: '' });
  });
});
