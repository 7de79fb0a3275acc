/**
 * Phase (m) of `npm run bench`: Redis bytes per turn after 5,000 turns (used_memory delta /
 * turns), each mode on a Redis of its own with one API and one worker process:
 * - `none`: no webhook;
 * - `webhook`: a session webhook with `include_messages`, Baton's defaults (the last 100
 *   messages within 256 KiB per delivery, 100 deliveries per session log);
 * - `baseline`: the same webhook as before bounded storage: the whole history in every
 *   delivery and an untrimmed log (WEBHOOK_MESSAGES_MAX and WEBHOOK_LOG_MAX lifted).
 * The turns are spread over sessions that each run theirs one after another. Then what one
 * retry of a delivery writes to Redis (bench/storage-retries.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { BatonProcess, RedisServer, waitUntil } from '@baton/devtools';
import { round } from './load.ts';
import { retryWrites, retryWritesMarkdown } from './storage-retries.ts';

const TURNS = Number(process.env.BENCH_STORAGE_TURNS ?? 5_000);
const SESSIONS = 20;

type Mode = 'none' | 'webhook' | 'baseline';

const MODE_ENV: Record<Mode, Record<string, string>> = {
  none: {},
  webhook: {},
  baseline: { WEBHOOK_MESSAGES_MAX: '1000000000', WEBHOOK_MESSAGES_MAX_BYTES: '1000000000000', WEBHOOK_LOG_MAX: '0' },
};

async function measure(mode: Mode, quiet: Record<string, string>) {
  const redis = await RedisServer.start();
  const client = new Redis(redis.url);
  let received = 0;
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(204).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await new Promise((resolve) => receiver.once('listening', resolve));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const env = { REDIS_URL: redis.url, BATON_PREFIX: 'bench', WEBHOOK_ALLOW_PRIVATE: 'true', ...MODE_ENV[mode], ...quiet };
  const api = await BatonProcess.start('api', env);
  const worker = await BatonProcess.start('worker', env);
  try {
    const used = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
    const before = await used();
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${api.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return (await res.json()) as Record<string, unknown>;
    };
    const perSession = Math.ceil(TURNS / SESSIONS);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: SESSIONS }, async () => {
        const created = await call('POST', '/sessions', mode === 'none' ? {} : { webhook: { url: hook, include_messages: true } });
        const id = created.session_id as string;
        for (let i = 0; i < perSession; i++) {
          await call('POST', `/sessions/${id}/messages`, { content: 'Hello, how are you today?' });
          while ((await call('GET', `/sessions/${id}?wait=true&timeout=30`)).status === 'running');
        }
      }),
    );
    const turns = perSession * SESSIONS;
    if (mode !== 'none') await waitUntil(() => received >= turns, { timeoutMs: 600_000, what: 'every webhook delivered' });
    const after = await used();
    return { turns, bytes_per_turn: round((after - before) / turns, 0), used_memory_mb: round((after - before) / 1048576, 1), seconds: round((Date.now() - started) / 1000, 1) };
  } finally {
    await api.stop();
    await worker.stop();
    receiver.close();
    client.disconnect();
    await redis.dispose();
  }
}

export async function storagePhase(quiet: Record<string, string>) {
  const modes: Mode[] = ['none', 'webhook', 'baseline'];
  const out: Record<string, unknown> = { sessions: SESSIONS, message: 'a 25-character user message and its echo reply' };
  for (const mode of modes) out[mode] = await measure(mode, quiet);
  out.retries = await retryWrites(quiet);
  return out;
}

/** (m): Redis bytes per turn, with and without a webhook, beside the unbounded baseline. */
export function storageMarkdown(s: any): string {
  const row = (name: string, m: any) => `| ${name} | ${m.turns} | ${m.bytes_per_turn} | ${m.used_memory_mb} |`;
  return `
(m) Redis bytes per turn after ${s.none.turns} turns (${s.sessions} sessions, ${s.message}), each mode on a Redis of its own:

| Mode | turns | Redis bytes per turn | used_memory delta (MB) |
|---|---|---|---|
${row('no webhook', s.none)}
${row('webhook, `include_messages` (bounded copy, trimmed log)', s.webhook)}
${row('baseline: webhook, `include_messages`, whole history, untrimmed log (as before)', s.baseline)}
${s.retries ? retryWritesMarkdown(s.retries) : ''}`;
}
