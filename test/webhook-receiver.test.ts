import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, freePort, waitUntil } from '@baton/devtools';
import { generateSecret } from '@baton/webhooks';
import { Baton, createSession, http } from './support/baton.ts';

/**
 * examples/webhook-receiver/README.md, followed as written: its receiver command, Baton with
 * the setting it names, and a message whose webhook URL is the README's own (only the port
 * is changed, as 3001 may be taken on a shared machine).
 */

const README = readFileSync(path.join(ROOT, 'examples/webhook-receiver/README.md'), 'utf8');
const RUN = README.slice(README.indexOf('## Run it'), README.indexOf('## Use it from code'));
const SECRET = generateSecret();

let baton: Baton;
let receiver: { child: ChildProcess; output: string; port: number } | undefined;

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: readmeBatonEnv() });
});
afterAll(async () => {
  if (receiver && receiver.child.exitCode === null) {
    receiver.child.kill('SIGTERM');
    await once(receiver.child, 'close');
  }
  await baton?.stop();
});

/** The env the README starts Baton with: `WEBHOOK_ALLOW_PRIVATE=true npm start`. */
function readmeBatonEnv(): Record<string, string> {
  const line = /^([A-Z_]+=\S+(?: [A-Z_]+=\S+)*) npm start$/m.exec(RUN);
  if (!line) throw new Error('the README does not start Baton with `<VAR>=<value> npm start`');
  return Object.fromEntries(line[1]!.split(' ').map((pair) => pair.split('=') as [string, string]));
}

/** Starts the receiver with the README's command line, on a free port instead of 3001. */
async function startReadmeReceiver(): Promise<NonNullable<typeof receiver>> {
  const command = /^PORT=3001 npx tsx (\S+)$/m.exec(RUN);
  if (!command) throw new Error('the README does not run the receiver with `PORT=3001 npx tsx <file>`');
  const port = await freePort();
  const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), [command[1]!], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', WEBHOOK_SECRET: SECRET, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = { child, output: '', port };
  child.stdout.on('data', (d) => (started.output += d));
  child.stderr.on('data', (d) => (started.output += d));
  await waitUntil(() => started.output.includes('listening on') || child.exitCode !== null, { what: 'the receiver to listen', timeoutMs: 20_000 });
  return started;
}

describe('examples/webhook-receiver README', () => {
  it('the receiver listens on loopback only, and the README URL gets the turn event, verified', async () => {
    receiver = await startReadmeReceiver();
    expect(receiver.output).toContain(`webhook receiver listening on http://127.0.0.1:${receiver.port}`);
    // Not on the machine's other addresses.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) {
      const attempt = await fetch(`http://${external.address}:${receiver.port}/`, { method: 'POST' }).then(
        () => 'answered',
        (err: { cause?: { code?: string } }) => err.cause?.code,
      );
      expect(attempt).toBe('ECONNREFUSED');
    }

    const url = /"url": "(http:\/\/127\.0\.0\.1:3001\/)"/.exec(RUN)?.[1];
    expect(url, 'the README webhook URL').toBeDefined();
    const id = await createSession(baton.url);
    const webhook = { url: url!.replace(':3001/', `:${receiver.port}/`), secret: SECRET };
    const sent = await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: 'Hello', webhook });
    expect(sent.status).toBe(202);

    const line = await waitUntil(
      () => receiver!.output.split('\n').find((l) => l.includes('"msg":"webhook"') && l.includes(sent.body.turn_id)),
      { what: 'the receiver to log the turn event', timeoutMs: 20_000 },
    );
    expect(JSON.parse(line)).toEqual({
      msg: 'webhook',
      id: `msg_${sent.body.turn_id}`,
      type: 'turn.completed',
      session_id: id,
      turn_id: sent.body.turn_id,
    });
  });
});
