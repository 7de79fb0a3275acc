import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { shardOf } from '@baton/core';
import { type BatonProcess, freePort, waitUntil } from '@baton/devtools';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

/**
 * Operations: /ready (a worker answered a canary recently), Prometheus /metrics on the
 * API and on each worker, Bull Board behind ADMIN_KEY, request ids and redaction in logs.
 */
const ADMIN_KEY = 'admin-key-for-tests';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const basic = (user: string, key: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}` });

let baton: Baton;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  // No worker at first: /ready must say so.
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    workers: 0,
    env: { ADMIN_KEY, WEBHOOK_ALLOW_PRIVATE: 'true' },
    apiEnv: { READY_MAX_AGE_MS: '1500', READY_CANARY_INTERVAL_MS: '100', READY_WAIT_MS: '300' },
    workerEnv: { METRICS_PORT: String(metricsPort) },
  });
});
afterAll(() => baton?.stop());

/** The API's JSON log lines. */
function apiLines(api: BatonProcess = baton.apis[0]!): Record<string, unknown>[] {
  return api.output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const lineOf = (reqId: string) => () => apiLines().find((l) => l.reqId === reqId && l.msg === 'request completed');

describe('/ready', () => {
  it('is 503 without a worker, 200 once one runs, and 503 again after it stops', async () => {
    const none = await http(baton.url, 'GET', '/ready');
    expect(none.status).toBe(503);
    expect(none.body).toMatchObject({ status: 'not_ready', reason: 'no_worker', worker_seen_ms_ago: null });
    // Liveness is not readiness.
    expect((await http(baton.url, 'GET', '/health')).status).toBe(200);
    // Queue depth: a turn waits while no worker runs (sent through OpenHands, so the native
    // API's request counts that the metrics test checks stay as they are).
    const queued = await http(baton.url, 'POST', '/api/conversations', { initial_message: { role: 'user', content: [{ type: 'text', text: 'wait' }] } });
    expect(queued.status).toBe(201);
    const waiting = await waitUntil(async () => {
      const res = await http(baton.url, 'GET', '/ready');
      return res.body.queues?.turns?.waiting === 1 && res;
    }, { what: "/ready's queue depth to show the waiting turn", timeoutMs: 5_000 });
    expect(waiting.status).toBe(503);
    expect(waiting.body.queues).toEqual({
      turns: { waiting: 1, active: 0, failed: 0, delayed: 0 },
      webhooks: { waiting: 0, active: 0, failed: 0, delayed: 0 },
    });

    const worker = await baton.startWorker();
    const ready = await waitUntil(async () => {
      const res = await http(baton.url, 'GET', '/ready');
      return res.status === 200 && res;
    }, { what: '/ready to answer 200', timeoutMs: 5_000 });
    expect(ready.body.status).toBe('ready');
    expect(ready.body.worker_seen_ms_ago).toBeGreaterThanOrEqual(0);
    expect(ready.body.worker_seen_ms_ago).toBeLessThanOrEqual(1500);
    // The worker takes the waiting turn.
    await waitUntil(async () => (await http(baton.url, 'GET', '/ready')).body.queues?.turns?.waiting === 0, { what: 'the waiting turn to be taken' });

    worker.kill('SIGTERM');
    await worker.exited;
    const gone = await waitUntil(async () => {
      const res = await http(baton.url, 'GET', '/ready');
      return res.status === 503 && res;
    }, { what: '/ready to answer 503 once the worker is gone', timeoutMs: 5_000 });
    expect(gone.body).toMatchObject({ status: 'not_ready', reason: 'no_worker' });
    expect(gone.body.worker_seen_ms_ago).toBeGreaterThan(1500);
  });
});

describe('with a worker', () => {
  let hooks: Server;
  let hookUrl: string;
  const received: string[] = [];

  beforeAll(async () => {
    await baton.startWorker();
    hooks = createServer((req, res) => {
      received.push(req.headers['webhook-id'] as string);
      res.writeHead(204).end();
    });
    hooks.listen(0, '127.0.0.1');
    await once(hooks, 'listening');
    hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => hooks?.close());

  it('exports request latency and queue counts on the API, turn and webhook metrics on the worker', async () => {
    const id = await createSession(baton.url);
    const sent = await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: 'count me', webhook: { url: hookUrl } });
    expect(sent.status).toBe(202);
    expect((await waitForIdle(baton.url, id)).response.content).toBe('echo: count me');
    await waitUntil(() => received.length === 1, { what: 'the webhook' });

    expect((await http(baton.url, 'GET', '/metrics')).status).toBe(401);
    const api = await http(baton.url, 'GET', '/metrics', undefined, bearer(ADMIN_KEY));
    expect(api.status).toBe(200);
    expect(api.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = api.body as string;
    expect(text).toMatch(/baton_http_request_duration_seconds_count\{method="POST",route="\/sessions\/:id\/messages",status="202"\} 1\n/);
    expect(text).toMatch(/baton_http_request_duration_seconds_count\{method="POST",route="\/sessions",status="201"\} 1\n/);
    expect(text).toMatch(/baton_http_request_duration_seconds_bucket\{le="0\.1",method="GET",route="\/sessions\/:id",status="200"\} \d+/);
    for (const queue of ['turns', 'webhooks']) {
      for (const state of ['waiting', 'active', 'failed', 'delayed']) {
        expect(text).toMatch(new RegExp(`baton_queue_jobs\\{queue="${queue}",state="${state}"\\} \\d+`));
      }
    }
    expect(text).toContain('process_cpu_seconds_total');

    const workerUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    expect((await fetch(workerUrl)).status).toBe(401);
    const worker = await waitUntil(async () => {
      const body = await (await fetch(workerUrl, { headers: bearer(ADMIN_KEY) })).text();
      return /baton_webhook_attempts_total\{outcome="delivered"\} 1\n/.test(body) && body;
    }, { what: 'the webhook attempt on the worker /metrics' });
    expect(worker).toMatch(/baton_turn_duration_seconds_count\{agent="echo",outcome="completed"\} 1\n/);
    expect(worker).toMatch(/baton_webhook_attempts_total\{outcome="dead"\} 0\n/);
  });

  it('serves Bull Board at /admin/queues behind ADMIN_KEY (Basic auth for browsers, or Bearer)', async () => {
    const denied = await http(baton.url, 'GET', '/admin/queues');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toMatch(/^Basic realm="Baton admin"/);
    expect(denied.body).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await http(baton.url, 'GET', '/admin/queues', undefined, basic('admin', 'wrong-key-123'))).status).toBe(401);
    expect((await http(baton.url, 'GET', '/admin/queues/api/queues', undefined, bearer('wrong-key-123'))).status).toBe(401);

    const page = await http(baton.url, 'GET', '/admin/queues', undefined, basic('admin', ADMIN_KEY));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    // Its scripts are served too (Express 5 static files under the mount path, the page's <base>).
    expect(page.body).toMatch(/<base href="\/admin\/queues\/?"/);
    const script = /src="(static\/[^"]+\.js)"/.exec(page.body as string)?.[1];
    const asset = await fetch(`${baton.url}/admin/queues/${script}`, { headers: basic('admin', ADMIN_KEY) });
    expect(asset.status).toBe(200);
    await asset.arrayBuffer();

    const queues = await http(baton.url, 'GET', '/admin/queues/api/queues', undefined, bearer(ADMIN_KEY));
    expect(queues.status).toBe(200);
    // On a Redis Cluster the queues are sharded (16 by default): each shard is listed as `{prefix:tN}:turns`.
    const listed = queues.body.queues as { name: string; readOnlyMode: boolean }[];
    expect([...new Set(listed.map((q) => q.name.replace(/^\{[^}]+\}:/, '')))].sort()).toEqual(['canary', 'turns', 'webhooks']);
    expect(listed.every((q) => q.readOnlyMode)).toBe(true);
  });

  it('with sharded queues, /metrics sums the shards and Bull Board lists each shard', async () => {
    // No worker: the turns stay waiting, one in each of the three shards.
    const sharded = await Baton.start({ redisUrl: inject('redisUrl'), workers: 0, env: { ADMIN_KEY, TURN_QUEUE_SHARDS: '3' } });
    try {
      const byShard = new Map<number, string>();
      while (byShard.size < 3) {
        const id = randomUUID();
        if (!byShard.has(shardOf(id, 3))) byShard.set(shardOf(id, 3), id);
      }
      for (const id of byShard.values()) {
        expect((await http(sharded.url, 'PUT', `/sessions/${id}`)).status).toBe(201);
        expect((await http(sharded.url, 'POST', `/sessions/${id}/messages`, { content: 'hi' })).status).toBe(202);
      }
      await waitUntil(async () => {
        const text = (await http(sharded.url, 'GET', '/metrics', undefined, bearer(ADMIN_KEY))).body as string;
        return text.includes('baton_queue_jobs{queue="turns",state="waiting"} 3\n');
      }, { what: 'the three waiting turns, summed over the shards, in /metrics' });

      const queues = await http(sharded.url, 'GET', '/admin/queues/api/queues', undefined, bearer(ADMIN_KEY));
      const names = (queues.body.queues as { name: string }[]).map((q) => q.name).sort();
      expect(names).toHaveLength(7);
      expect(names).toContain('canary');
      expect(names.filter((n) => new RegExp(`^\\{${sharded.prefix}:t\\d+(\\.\\d+)?\\}:turns$`).test(n))).toHaveLength(3);
      expect(names.filter((n) => new RegExp(`^\\{${sharded.prefix}:w\\d+(\\.\\d+)?\\}:webhooks$`).test(n))).toHaveLength(3);
    } finally {
      await sharded.stop();
    }
  });

  it('hides Bull Board (404) and leaves /metrics open when ADMIN_KEY is not set', async () => {
    const open = await baton.startApi({ ADMIN_KEY: '' });
    try {
      expect((await http(open.url, 'GET', '/admin/queues')).status).toBe(404);
      const metrics = await http(open.url, 'GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('baton_queue_jobs{queue="turns",state="waiting"}');
    } finally {
      await open.stop();
    }
  });

  it('echoes or makes a request id and logs it, with the session id, on the request line', async () => {
    const id = await createSession(baton.url);
    const given = await http(baton.url, 'GET', `/sessions/${id}`, undefined, { 'x-request-id': 'req-ops-given-1' });
    expect(given.headers.get('x-request-id')).toBe('req-ops-given-1');
    const line = await waitUntil(lineOf('req-ops-given-1'), { what: 'the request line' });
    expect(line).toMatchObject({ level: 30, sessionId: id, method: 'GET', route: '/sessions/:id', status: 200, url: `/sessions/${id}` });
    expect(line.ms).toEqual(expect.any(Number));

    // None given (or one that is not a plain token): a new one, echoed and logged.
    for (const headers of [{}, { 'x-request-id': 'bad id with spaces' }] as Record<string, string>[]) {
      const made = await http(baton.url, 'GET', `/api/conversations/${id.replaceAll('-', '')}`, undefined, headers);
      const reqId = made.headers.get('x-request-id')!;
      expect(reqId).toMatch(/^[0-9a-f-]{36}$/);
      // The OpenHands id (no dashes) names the same session.
      expect(await waitUntil(lineOf(reqId), { what: 'the request line' })).toMatchObject({ sessionId: id, route: '/api/conversations/:id' });
    }
  });

  it('never logs API keys or request bodies', async () => {
    const secrets = ['sk-bearer-secret-1', 'sk-x-api-key-secret-2', 'sk-session-key-secret-3', 'body-secret-4'];
    const id = await createSession(baton.url);
    const requests: [string, string, Record<string, string>][] = [
      ['POST', `/sessions/${id}/messages`, { authorization: `Bearer ${secrets[0]}`, 'x-request-id': 'req-redact-1' }],
      ['POST', `/api/v1/sessions/${id}/messages`, { 'x-api-key': secrets[1]!, 'x-request-id': 'req-redact-2' }],
      ['POST', `/api/conversations/${id}/events`, { 'x-session-api-key': secrets[2]!, 'x-request-id': 'req-redact-3' }],
    ];
    for (const [method, path, headers] of requests) {
      await http(baton.url, method, path, { content: secrets[3], message: secrets[3], if_busy: 'enqueue' }, headers);
    }
    for (const reqId of ['req-redact-1', 'req-redact-2', 'req-redact-3']) await waitUntil(lineOf(reqId), { what: reqId });
    const logs = baton.apis.map((a) => a.output).join('\n');
    for (const secret of secrets) expect(logs).not.toContain(secret);
  });

  it('puts the session id and turn id on every worker line about a turn', async () => {
    const worker = baton.workers.find((w) => w.alive)!;
    const from = worker.output.length;
    const id = await createSession(baton.url);
    await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: 'trace me' });
    await waitForIdle(baton.url, id);
    // This turn's own line (other sessions' turns may still be finishing on this worker).
    const linesOf = () => worker.output.slice(from).split('\n').filter((l) => l.includes(id));
    await waitUntil(() => linesOf().some((l) => l.includes('"turn finished"')), { what: `"turn finished" for ${id}`, timeoutMs: 5_000 });
    const lines = linesOf();
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(expect.arrayContaining(['turn claimed', 'turn finished']));
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ sessionId: id, turnId: expect.any(String) });
  });
});
