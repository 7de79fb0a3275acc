/**
 * Part of phase (m): what a webhook delivery's retries write to Redis. On a Redis of its own,
 * with one API and one worker process, sessions holding 100 messages of 2 KiB each (a
 * ~200 KiB `include_messages` body) end a turn each; their webhook is delivered at the first
 * attempt (`once`) or answered 503 four times first (`retried`). The figure is the bytes Redis
 * received from its clients (`INFO stats` `total_net_input_bytes`) from the message to the
 * delivery's end; the difference, divided by the four retries, is what one retry sends.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { BatonProcess, RedisServer, waitUntil } from '@baton/devtools';
import { round } from './load.ts';

const RETRIES = 4;
const RUNS = 3;

export async function retryWrites(quiet: Record<string, string>) {
  const redis = await RedisServer.start();
  const client = new Redis(redis.url);
  const answered = new Map<string, number>();
  let bodyBytes = 0;
  const receiver = http.createServer((req, res) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => (size += chunk.length));
    req.on('end', () => {
      bodyBytes = size;
      const path = req.url ?? '';
      const seen = answered.get(path) ?? 0;
      answered.set(path, seen + 1);
      res.writeHead(path.startsWith('/retried') && seen < RETRIES ? 503 : 204).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await new Promise((resolve) => receiver.once('listening', resolve));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const env = { REDIS_URL: redis.url, BATON_PREFIX: 'bench', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_SCHEDULE: '0,20,20,20,20', ...quiet };
  const api = await BatonProcess.start('api', env);
  const worker = await BatonProcess.start('worker', env);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await res.json()) as any;
  };
  const inputBytes = async () => Number(/total_net_input_bytes:(\d+)/.exec(await client.info('stats'))?.[1]);
  const state = Array.from({ length: 100 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `${i} ${'x'.repeat(2048)}` }));

  /** Bytes Redis received from a turn's message to its delivery's end. */
  const one = async (kind: 'once' | 'retried', run: number) => {
    const url = `${hook}/${kind}/${run}`;
    const { session_id: id } = await call('POST', '/sessions', { state, webhook: { url, include_messages: true } });
    const before = await inputBytes();
    await call('POST', `/sessions/${id}/messages`, { content: 'hello' });
    await waitUntil(async () => (await call('GET', `/sessions/${id}/webhooks`))[0]?.status === 'delivered', { timeoutMs: 60_000, what: `${kind} delivery` });
    return (await inputBytes()) - before;
  };
  try {
    // Warm-up, not counted: the first call of each script sends its source (EVAL), later ones its hash.
    await one('once', -1);
    await one('retried', -1);
    let once = 0;
    let retried = 0;
    for (let run = 0; run < RUNS; run++) {
      once += await one('once', run);
      retried += await one('retried', run);
    }
    return {
      body_bytes: bodyBytes,
      retries: RETRIES,
      once_bytes: round(once / RUNS, 0),
      retried_bytes: round(retried / RUNS, 0),
      bytes_per_retry: round((retried - once) / RUNS / RETRIES, 0),
    };
  } finally {
    await api.stop();
    await worker.stop();
    receiver.close();
    client.disconnect();
    await redis.dispose();
  }
}

/** The row for phase (m)'s markdown. */
export function retryWritesMarkdown(r: any): string {
  return `
Redis input bytes for one delivery of a ${r.body_bytes}-byte \`include_messages\` body (mean of ${RUNS} runs): ${r.once_bytes} delivered at once, ${r.retried_bytes} after ${r.retries} retries (503): **${r.bytes_per_retry} bytes per retry**.
`;
}
