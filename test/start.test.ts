import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ROOT, freePort, waitUntil } from '@baton/devtools';
import { http } from './support/baton.ts';

/** The README's quick start, as a newcomer would run it: `npm start`, then curl. */
const dataDir = mkdtempSync(join(tmpdir(), 'baton-start-'));
let child: ChildProcess | undefined;

afterAll(async () => {
  if (child && groupAlive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

function withoutRedisUrl(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.REDIS_URL;
  return env;
}

it('npm start runs Redis, the API and a worker; the README walkthrough works against it', async () => {
  const port = await freePort();
  child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: withoutRedisUrl({ PORT: String(port), BATON_DATA_DIR: dataDir }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await waitUntil(() => /Baton API listening/.test(output) && /Baton worker ready/.test(output), {
    timeoutMs: 30_000,
    what: `npm start to be ready; output so far:\n${output}`,
  });
  expect(output).toMatch(/started redis-server on redis:\/\/127\.0\.0\.1:\d+/);
  const base = `http://127.0.0.1:${port}`;

  const created = await http(base, 'POST', '/sessions');
  expect(created.status).toBe(201);
  const id = created.body.session_id;
  const sent = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'Hello, Baton' });
  expect(sent.status).toBe(202);
  const done = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=10`);
  expect(done.body).toMatchObject({ status: 'idle', response: { role: 'assistant', content: 'echo: Hello, Baton' } });
  const history = await http(base, 'GET', `/sessions/${id}/messages`);
  expect(history.body).toEqual([
    { role: 'user', content: 'Hello, Baton' },
    { role: 'assistant', content: 'echo: Hello, Baton' },
  ]);
  // The console is served as it was installed: no build step before `npm start`.
  const page = await fetch(`${base}/console/`);
  expect(page.status).toBe(200);
  const script = /src="\.\/(assets\/index-[\w-]+\.js)"/.exec(await page.text())?.[1];
  expect(script).toBeDefined();
  expect((await fetch(`${base}/console/${script}`)).status).toBe(200);

  // Ctrl-C: the terminal sends SIGINT to the whole process group.
  process.kill(-child.pid!, 'SIGINT');
  await waitUntil(() => !groupAlive(child!.pid!), { timeoutMs: 15_000, what: 'every started process to exit' });
  expect(output).toContain('baton: stopped');
  expect(output).not.toContain('stopped after a failure');
});

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

it('without REDIS_URL and without redis-server on PATH, start says what to install', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: withoutRedisUrl({ PATH: '' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stderr!.on('data', (d) => (output += d));
  const [code] = await once(proc, 'close'); // 'close': after its output has all been read
  expect(code).toBe(1);
  expect(output).toContain('no redis-server was found on PATH');
  expect(output).toContain('apt-get install redis-server');
});
