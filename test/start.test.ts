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

/** Every process a test started: `npm start`'s group, and the API, worker and Redis it started in groups of their own. */
const started: number[] = [];

afterAll(async () => {
  if (child && groupAlive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
  for (const pid of started) if (groupAlive(pid)) process.kill(-pid, 'SIGKILL');
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
  const pids = startedPids(output);
  process.kill(-child.pid!, 'SIGINT');
  await waitUntil(() => !groupAlive(child!.pid!) && pids.every((pid) => !groupAlive(pid)), { timeoutMs: 15_000, what: 'every started process to exit' });
  expect(output).toContain('baton: stopped');
  expect(output).not.toContain('stopped after a failure');
});

/** `npm start` as a terminal runs it: a process group of its own; its output collected. */
function npmStart(env: Record<string, string>): { proc: ChildProcess; output: () => string } {
  const proc = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: withoutRedisUrl(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  proc.stdout!.on('data', (d) => (text += d));
  proc.stderr!.on('data', (d) => (text += d));
  started.push(proc.pid!);
  return { proc, output: () => text };
}

/** The pids of Redis, the API and the worker, from their start lines (JSON log lines carry `pid`). */
function startedPids(output: string): number[] {
  const redis = /started redis-server on \S+ \(data in .*, pid (\d+)\)/.exec(output);
  const api = /"pid":(\d+)[^\n]*Baton API listening/.exec(output);
  const worker = /"pid":(\d+)[^\n]*Baton worker ready/.exec(output);
  const pids = [redis, api, worker].map((m) => Number(m?.[1]));
  expect(pids.every((pid) => pid > 0), output).toBe(true);
  started.push(...pids);
  return pids;
}

it('one Ctrl-C during a turn stops everything gracefully: the worker hands the turn back, and the next start runs it at once', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // The echo agent holds the turn for 10 minutes; the worker waits 500 ms for it on shutdown, then hands it back.
  const env = { PORT: String(port), BATON_DATA_DIR: dataDir, LOG_LEVEL: 'debug', SHUTDOWN_TIMEOUT_MS: '500', LOCK_DURATION_MS: '30000' };
  const first = npmStart({ ...env, ECHO_DELAY_MS: '600000' });
  await waitUntil(() => /Baton API listening/.test(first.output()) && /Baton worker ready/.test(first.output()), {
    timeoutMs: 30_000,
    what: 'npm start to be ready',
  });
  const pids = startedPids(first.output());
  const id = (await http(base, 'POST', '/sessions')).body.session_id as string;
  const sent = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'held' });
  expect(sent.status).toBe(202);
  await waitUntil(() => /"msg":"turn claimed"/.test(first.output()), { timeoutMs: 15_000, what: 'the worker to start the turn' });

  // One Ctrl-C: SIGINT to the whole process group, as a terminal sends it.
  process.kill(-first.proc.pid!, 'SIGINT');
  await waitUntil(() => !groupAlive(first.proc.pid!) && pids.every((pid) => !groupAlive(pid)), {
    timeoutMs: 20_000,
    what: `every started process to exit; output:\n${first.output()}`,
  });
  expect(first.output()).toContain('worker shutting down: turn handed back to the queue');
  expect(first.output()).not.toContain('second signal');
  expect(first.output()).toContain('"msg":"worker stopped"');
  expect(first.output()).toContain('baton: stopped');

  // The next start (same data) runs the turn at once. A turn left locked by a worker that exited
  // without handing it back would wait for its lock to lapse (LOCK_DURATION_MS, 30 s) and the
  // stalled-job check: the long-poll below gives up well before that.
  const second = npmStart({ ...env, ECHO_DELAY_MS: '0' });
  await waitUntil(() => /Baton API listening/.test(second.output()) && /Baton worker ready/.test(second.output()), {
    timeoutMs: 30_000,
    what: 'the second npm start to be ready',
  });
  const pidsAgain = startedPids(second.output());
  const done = await http(base, 'GET', `/sessions/${id}?wait=true&timeout=15`);
  expect(done.body).toMatchObject({ status: 'idle', response: { role: 'assistant', content: 'echo: held' } });
  expect((await http(base, 'GET', `/sessions/${id}/messages`)).body).toEqual([
    { role: 'user', content: 'held' },
    { role: 'assistant', content: 'echo: held' },
  ]);
  process.kill(-second.proc.pid!, 'SIGINT');
  await waitUntil(() => !groupAlive(second.proc.pid!) && pidsAgain.every((pid) => !groupAlive(pid)), { timeoutMs: 20_000, what: 'the second start to stop' });
}, 120_000);

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
