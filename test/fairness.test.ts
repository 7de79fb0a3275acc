import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, FAST_RECOVERY, http } from './support/baton.ts';
import { HeldAgent } from './support/held-agent.ts';
import { Receiver } from './support/receiver.ts';

/**
 * Fairness between tenants (README, Fairness): one tenant's dead webhook receiver or flood of
 * turns does not hold up another tenant's; an endpoint that keeps failing is tried less often
 * and then disabled. Every assertion about order is one of counts at the moment of an event
 * (what had arrived where when B's delivery or turn arrived), not a timing window.
 */
const A = 'tenant-a-key-0001';
const B = 'tenant-b-key-0002';
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const TENANTS = { API_KEYS: `${A},${B}`, WEBHOOK_ALLOW_PRIVATE: 'true' };
// Hundreds of requests from one key in a few seconds: the rate limit is not under test.
const API = { RATE_LIMIT_PER_S: '0' };

async function newSession(base: string, key: string, body: unknown = {}): Promise<string> {
  const res = await http(base, 'POST', '/sessions', body, auth(key));
  expect(res.status).toBe(201);
  return res.body.session_id;
}

async function send(base: string, key: string, id: string, body: Record<string, unknown>): Promise<string> {
  const res = await http(base, 'POST', `/sessions/${id}/messages`, body, auth(key));
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.turn_id;
}

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return out;
}

describe('webhooks: a tenant whose receiver never answers', () => {
  const CAP = 4;
  let baton: Baton;
  let dead: Receiver;
  let live: Receiver;

  beforeAll(async () => {
    [dead, live] = await Promise.all([Receiver.start(), Receiver.start()]);
    // Accepts the connection, reads the request, never answers.
    dead.reply = () => 'hang';
    baton = await Baton.start({
      redisUrl: inject('redisUrl'),
      env: TENANTS,
      apiEnv: API,
      // Attempts to the dead receiver outlast the test: its slots stay held throughout.
      workerEnv: { WEBHOOK_CONCURRENCY: '20', WEBHOOK_TIMEOUT_MS: '60000', TENANT_MAX_WEBHOOKS_IN_FLIGHT: String(CAP) },
    });
  });
  afterAll(async () => {
    // The receivers first: the held attempts then end at once and the worker stops quickly.
    await Promise.all([dead?.close(), live?.close()]);
    await baton?.stop();
  });

  it("100 deliveries to A's dead receiver do not hold up B's: B's arrives while A's backlog is pending", async () => {
    const base = baton.url;
    const aSessions = await inBatches(Array.from({ length: 100 }, (_, i) => i), 20, () => newSession(base, A));
    await inBatches(aSessions, 20, (id) => send(base, A, id, { content: 'a', webhook: { url: dead.url } }));
    // Every A turn has ended (its delivery queued) and A's first deliveries hold their slots.
    await waitUntil(async () => {
      const views = await inBatches(aSessions, 25, (id) => http(base, 'GET', `/sessions/${id}`, undefined, auth(A)));
      return views.every((v) => v.body.status === 'idle');
    }, { timeoutMs: 60_000, what: "A's 100 turns to end" });
    await dead.waitFor(CAP);

    let deadSeenAtB = -1;
    live.reply = () => {
      deadSeenAtB = dead.requests.length;
      return { status: 200 };
    };
    const bSession = await newSession(base, B);
    await send(base, B, bSession, { content: 'b', webhook: { url: live.url } });
    const [received] = await live.waitFor(1, 20_000);
    // When B's delivery arrived, A's receiver had been sent no more than A's cap: the other
    // 96 of A's deliveries were still waiting, and B's went past them.
    expect(deadSeenAtB).toBeGreaterThanOrEqual(CAP);
    expect(deadSeenAtB).toBeLessThanOrEqual(CAP);
    const delayMs = received!.at - Date.parse(received!.json.timestamp);
    console.log(`fairness: B's webhook arrived ${delayMs} ms after its turn ended, A's 96 deliveries still queued`);
    // Nothing of A's was lost: each delivery is still pending (in flight or parked).
    const logs = await inBatches(aSessions, 25, (id) => http(base, 'GET', `/sessions/${id}/webhooks`, undefined, auth(A)));
    expect(logs.map((l) => l.body[0]?.status)).toEqual(aSessions.map(() => 'pending'));
    expect(dead.requests.length).toBe(CAP);
  }, 120_000);
});

/**
 * A stand-in HTTP agent (AGENT=http) that answers each turn after `delayMs` (a slow echo) and
 * records, in arrival order, which tenant's turn reached it; `running` counts turns in progress.
 */
class SlowAgent {
  readonly arrivals: string[] = [];
  readonly running = new Map<string, number>();
  readonly maxRunning = new Map<string, number>();
  tenantOf: (sessionId: string) => string = () => '?';
  private readonly open = new Set<ServerResponse>();
  private readonly server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const { session_id: sessionId, messages } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const tenant = this.tenantOf(sessionId);
    this.arrivals.push(tenant);
    const now = (this.running.get(tenant) ?? 0) + 1;
    this.running.set(tenant, now);
    this.maxRunning.set(tenant, Math.max(now, this.maxRunning.get(tenant) ?? 0));
    this.open.add(res);
    setTimeout(() => {
      this.running.set(tenant, (this.running.get(tenant) ?? 1) - 1);
      this.open.delete(res);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ content: `echo: ${messages.at(-1).content}` }));
    }, this.delayMs);
  });

  constructor(private readonly delayMs: number) {}

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/agent`;
  }

  count(tenant: string): number {
    return this.arrivals.filter((t) => t === tenant).length;
  }

  close(): void {
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    this.server.close();
  }
}

describe('turns: a tenant flooding the queue', () => {
  const MAX_RUNNING = 2;
  const CONCURRENCY = 3;
  const WORKERS = 2;
  let baton: Baton;
  let agent: SlowAgent;

  beforeAll(async () => {
    agent = await new SlowAgent(100).start();
    baton = await Baton.start({
      redisUrl: inject('redisUrl'),
      workers: WORKERS,
      env: { ...TENANTS, AGENT: 'http', HTTP_AGENT_URL: agent.url },
      apiEnv: API,
      workerEnv: { TENANT_MAX_RUNNING: String(MAX_RUNNING), WORKER_CONCURRENCY: String(CONCURRENCY) },
    });
  });
  afterAll(async () => {
    await baton?.stop();
    agent?.close();
  });

  it("200 of A's turns queued: B's first turn starts before more than TENANT_MAX_RUNNING + all worker slots of A's have", async () => {
    const base = baton.url;
    const tenantOf = new Map<string, string>();
    agent.tenantOf = (id) => tenantOf.get(id) ?? '?';
    const aSessions = await inBatches(Array.from({ length: 200 }, (_, i) => i), 25, () => newSession(base, A));
    for (const id of aSessions) tenantOf.set(id, 'A');
    // One of A's sessions has three messages queued behind each other: their order must hold.
    const ordered = aSessions[0]!;
    await send(base, A, ordered, { content: 'first' });
    await send(base, A, ordered, { content: 'second', if_busy: 'enqueue' });
    await send(base, A, ordered, { content: 'third', if_busy: 'enqueue' });
    await inBatches(aSessions.slice(1), 25, (id) => send(base, A, id, { content: 'a' }));
    await waitUntil(() => agent.count('A') >= MAX_RUNNING, { what: "A's first turns to start" });

    const bSession = await newSession(base, B);
    tenantOf.set(bSession, 'B');
    const aBefore = agent.count('A');
    await send(base, B, bSession, { content: 'b' });
    await waitUntil(() => agent.count('B') === 1, { timeoutMs: 60_000, what: "B's turn to start" });
    const aStartedMeanwhile = agent.arrivals.indexOf('B') - aBefore;
    console.log(`fairness: ${aStartedMeanwhile} of A's turns started between B's submit and B's turn starting`);
    expect(aStartedMeanwhile).toBeLessThanOrEqual(MAX_RUNNING + CONCURRENCY * WORKERS);

    // Every one of A's turns still runs, never more than MAX_RUNNING at once across both workers.
    await waitUntil(async () => agent.count('A') >= 202, { timeoutMs: 120_000, intervalMs: 200, what: "all of A's turns" });
    expect(agent.maxRunning.get('A')).toBeLessThanOrEqual(MAX_RUNNING);
    const history = await waitUntil(async () => {
      const res = await http(base, 'GET', `/sessions/${ordered}/messages`, undefined, auth(A));
      return res.body.length === 6 ? res.body : null;
    }, { what: 'the ordered session to finish' });
    expect(history.map((m: { content: string }) => m.content)).toEqual(['first', 'echo: first', 'second', 'echo: second', 'third', 'echo: third']);
  }, 180_000);
});

describe('turns: a worker that dies holding a tenant slot', () => {
  let baton: Baton;
  let agent: HeldAgent;

  beforeAll(async () => {
    agent = await HeldAgent.start();
    baton = await Baton.start({
      redisUrl: inject('redisUrl'),
      env: { ...TENANTS, ...FAST_RECOVERY, AGENT: 'http', HTTP_AGENT_URL: agent.url },
      apiEnv: API,
      // A stalled job is not run again (it fails; the reaper ends its turn): only the lease's
      // lapse can free the dead worker's slot.
      workerEnv: { TENANT_MAX_RUNNING: '1', MAX_STALLED_COUNT: '0' },
    });
  });
  afterAll(async () => {
    await agent?.close();
    await baton?.stop();
  });

  it("its slot frees itself when the lease lapses: the tenant's parked turn runs", async () => {
    const base = baton.url;
    const tenant = `t_${createHash('sha256').update(A).digest('hex').slice(0, 16)}`;
    const [s1, s2] = [await newSession(base, A), await newSession(base, A)];
    await send(base, A, s1, { content: 'one' });
    await waitUntil(() => agent.received === 1, { what: 'the first turn to reach the agent' });
    await send(base, A, s2, { content: 'two' });
    await waitUntil(async () => (await baton.redis.zcard(`${baton.prefix}:fair:{${tenant}}:turns:parked`)) === 1, { what: 'the second turn to park' });

    // The worker holding the slot dies, and nothing runs its turn again.
    await baton.startWorker();
    baton.workers[0]!.kill('SIGKILL');
    await waitUntil(() => agent.received === 2, { timeoutMs: 20_000, what: 'the parked turn to reach the agent' });
    agent.release('done');
    const view = await http(base, 'GET', `/sessions/${s2}?wait=true&timeout=10`, undefined, auth(A));
    expect(view.body).toMatchObject({ status: 'idle', response: { content: 'done' } });
    // The first turn was ended by the reaper, not run again.
    expect((await http(base, 'GET', `/sessions/${s1}?wait=true&timeout=10`, undefined, auth(A))).body.status).toBe('error');
    expect(agent.received).toBe(2);
  }, 60_000);
});

describe('webhooks: an endpoint that keeps failing', () => {
  const COOLDOWN_MS = 300;
  let baton: Baton;
  let failing: Receiver;

  beforeAll(async () => {
    failing = await Receiver.start();
    failing.reply = () => ({ status: 500 });
    baton = await Baton.start({
      redisUrl: inject('redisUrl'),
      env: { ...TENANTS, WEBHOOK_DISABLE_AFTER_S: '2' },
      apiEnv: API,
      workerEnv: {
        // A schedule of 40 attempts 100 ms apart: far longer than the endpoint is given.
        WEBHOOK_SCHEDULE: ['0', ...Array.from({ length: 39 }, () => '100')].join(','),
        WEBHOOK_BREAKER_FAILURES: '3',
        WEBHOOK_BREAKER_COOLDOWN_MS: String(COOLDOWN_MS),
      },
    });
  });
  afterAll(async () => {
    await baton?.stop();
    await failing?.close();
  });

  const deliveries = async (id: string) => (await http(baton.url, 'GET', `/sessions/${id}/webhooks`, undefined, auth(A))).body;

  it('opens after 3 failures (tried less often than the schedule says), disables after 2 s, dead-letters until a redelivery succeeds', async () => {
    const base = baton.url;
    const id = await newSession(base, A);
    await send(base, A, id, { content: 'one', webhook: { url: failing.url } });
    const [first] = await waitUntil(async () => {
      const list = await deliveries(id);
      return list[0]?.status === 'dead' ? list : null;
    }, { timeoutMs: 30_000, what: 'the first delivery to end dead' });
    const attempts = first.attempts as { status_code: number | null; error: string | null }[];
    // Dead because the endpoint was disabled, long before its 40-attempt schedule ran out.
    expect(attempts.at(-1)!.error).toMatch(/^Endpoint disabled: http:\/\/127\.0\.0\.1:\d+ has failed since .* \(WEBHOOK_DISABLE_AFTER_S\)/);
    expect(attempts.length).toBeLessThan(20);
    // Every attempt but the refused last one reached the receiver.
    expect(failing.requests.length).toBe(attempts.length - 1);
    // Open after the third failure: the next request waited at least the cool-down, though
    // the schedule said 100 ms (a lower bound: a busy machine only makes the gap longer).
    const at = failing.requests.map((r) => r.at);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(COOLDOWN_MS - 20);
    // Disabled once it had failed for 2 s: its last request is at least that after its first.
    expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual(2_000 - 20);
    const dead = await http(base, 'GET', '/webhooks/dead-letters', undefined, auth(A));
    expect(dead.body.map((d: { id: string }) => d.id)).toContain(first.id);

    // While disabled, a new delivery to it is dead-lettered without being sent.
    const sent = failing.requests.length;
    await send(base, A, id, { content: 'two', webhook: { url: failing.url } });
    const second = await waitUntil(async () => (await deliveries(id)).find((d: { turn_id: string; status: string; id: string }) => d.id !== first.id && d.status === 'dead'), {
      timeoutMs: 30_000,
      what: 'the second delivery to be dead-lettered',
    });
    expect(second.attempts).toHaveLength(1);
    expect(second.attempts[0].error).toMatch(/^Endpoint disabled/);
    expect(failing.requests.length).toBe(sent);

    // Fixed, and redelivered: the breaker is reset and the delivery goes through.
    failing.reply = () => ({ status: 200 });
    expect((await http(base, 'POST', `/sessions/${id}/webhooks/${second.id}/redeliver`, undefined, auth(A))).status).toBe(202);
    await waitUntil(async () => (await deliveries(id)).find((d: { id: string; status: string }) => d.id === second.id && d.status === 'delivered'), {
      what: 'the redelivery to succeed',
    });
    expect(failing.requests.length).toBe(sent + 1);
  }, 60_000);
});
