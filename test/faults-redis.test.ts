import { afterAll, beforeAll, expect, it } from 'vitest';
import { BatonProcess, RedisServer, freePort, waitUntil } from '@baton/devtools';
import { Baton, FAST_RECOVERY, createSession, http } from './support/baton.ts';
import { type Figures, Ledger, checkInvariants, runLoad } from './support/invariants.ts';
import { Receiver } from './support/receiver.ts';

/**
 * Redis faults under load, on a Redis of this file's own (AOF, fsync on every write):
 * restarted while POSTs are in flight, and down when an API starts and during POSTs.
 * A 503 comes fast and means nothing was stored; every 202 survives. The invariants of
 * test/support/invariants.ts must hold afterwards (see test/faults.test.ts).
 */
let redis: RedisServer;
let baton: Baton;
const receivers: Receiver[] = [];

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: true, args: ['--appendfsync', 'always'] });
  baton = await Baton.start({
    redisUrl: redis.url,
    workers: 2,
    // A request whose API could not free its Idempotency-Key (Redis was away) holds it 2 s.
    env: { ...FAST_RECOVERY, WEBHOOK_ALLOW_PRIVATE: 'true', IDEMPOTENCY_PENDING_S: '2' },
    // A delivery held by a worker that dies is taken over when its lock lapses, at twice
    // WEBHOOK_TIMEOUT_MS: 4 s here rather than 30.
    workerEnv: { ECHO_DELAY_MS: '20', WEBHOOK_SCHEDULE: '0,100,100', WEBHOOK_TIMEOUT_MS: '2000' },
  });
});
afterAll(async () => {
  await baton?.stop();
  await redis?.dispose();
  await Promise.all(receivers.map((r) => r.close()));
});

async function setup(count: number): Promise<{ receiver: Receiver; sessions: string[] }> {
  const receiver = await Receiver.start();
  receivers.push(receiver);
  const sessions = await Promise.all(Array.from({ length: count }, () => createSession(baton.url, { webhook: { url: receiver.url } })));
  return { receiver, sessions };
}

/** Until the API reads the session again: Redis is back and the API has reconnected. */
const answering = (base: string, id: string) =>
  waitUntil(async () => (await http(base, 'GET', `/sessions/${id}`)).status === 200, { timeoutMs: 15_000, intervalMs: 50, what: 'the API to reach Redis again' });

function report(name: string, started: number, figures: Figures, extra: Record<string, unknown> = {}) {
  console.log(`[faults] ${name}: ${JSON.stringify({ ...figures, ...extra, seconds: (performance.now() - started) / 1000 })}`);
}

it('Redis restarted twice under load (stopped, then killed): every 202 survives, a 503 never runs unless Redis died under it', async () => {
  const started = performance.now();
  const { receiver, sessions } = await setup(30);
  const ledger = new Ledger('redis-restart');
  let restarts = 0;
  let acceptedBefore = 0; // accepted before the last restart
  const load = runLoad({
    ledger,
    sessions,
    target: () => baton.url,
    rounds: 3,
    // Until both restarts are over and 30 more messages were accepted after them.
    more: () => restarts < 2 || ledger.accepted.length < acceptedBefore + 30,
    maxRounds: 20,
    recover: (i) => answering(baton.url, sessions[i]!),
  });

  // First a clean shutdown and an instant relaunch: the API's client reconnects and sends
  // its unanswered commands again. Then a crash, down until POSTs are refused meanwhile.
  // With fsync on every write, neither may lose an acknowledged write.
  /** From the signal to the exit: when Redis may have died with a request half done. */
  const deaths: { from: number; to: number }[] = [];
  const stop = async (signal: NodeJS.Signals) => {
    const from = performance.now();
    await redis.stop(signal);
    deaths.push({ from, to: performance.now() });
  };
  await ledger.acceptedAtLeast(40);
  await stop('SIGTERM');
  await redis.launch();
  acceptedBefore = ledger.accepted.length;
  restarts++;

  await ledger.acceptedAtLeast(acceptedBefore + 60);
  await stop('SIGKILL');
  const dead = deaths[1]!.to;
  const sentWhileDown = () => ledger.refused.filter((s) => s.startedAt > dead).length;
  await waitUntil(() => sentWhileDown() >= 10, { timeoutMs: 10_000, what: '10 POSTs refused while Redis is down' });
  await redis.launch();
  acceptedBefore = ledger.accepted.length;
  restarts++;
  await load;

  // A 503 for a POST sent before Redis was seen dead may come after its write ran (the
  // reply was lost): the API cannot know, so neither can the client. Every later one was
  // refused with Redis down and must never run.
  const inFlight = ledger.doubt((s) => deaths.some((d) => s.startedAt < d.to && s.startedAt + s.ms > d.from));
  expect(ledger.refused.length).toBeGreaterThanOrEqual(10);
  for (const s of [...ledger.refused, ...inFlight]) expect(s.status).toBe(503);
  // The API never went away: every POST got an answer.
  expect(ledger.unknown).toEqual(inFlight);
  const slowest = Math.max(...ledger.refused.map((s) => s.ms), ...inFlight.map((s) => s.ms));
  expect(slowest).toBeLessThan(2_000);

  // The client retries each doubtful 503 under its Idempotency-Key: a 202 for the turn its
  // lost write stored, or for the message stored now. Either way it ends in the history once.
  let storedDespite503 = 0;
  for (const s of inFlight) if ((await ledger.retry(baton.url, s)).storedBefore) storedDespite503++;
  for (const s of inFlight) expect(s.status).toBe(202);
  expect(ledger.unknown).toEqual([]);

  const figures = await checkInvariants(ledger, { base: baton.url, receiver, timeoutMs: 30_000 });
  report('Redis restarted', started, figures, { faults: 2, inFlight503: inFlight.length, storedDespite503, slowest503ms: Math.round(slowest) });
});

it('Redis down: an API starting waits for it (or exits saying so), POSTs get a fast 503 and store nothing', async () => {
  const started = performance.now();
  const { receiver, sessions } = await setup(20);
  const base = baton.url;
  const ledger = new Ledger('redis-down');
  await runLoad({ ledger, sessions, target: () => base, rounds: 1 });

  await redis.stop();
  // One API starts against this Redis, which comes back below; another against a port
  // where no Redis will ever answer (port 1: nothing listens there, nothing may bind it).
  const late = baton.startApi();
  const doomedPort = await freePort();
  const refusal = BatonProcess.start('api', { REDIS_URL: 'redis://127.0.0.1:1', PORT: String(doomedPort) }).then(
    () => new Error('the API started without Redis'),
    (err: Error) => err,
  );

  // Every session gets a POST while Redis is down: a fast 503, Retry-After 1.
  const down = await Promise.all(sessions.map((id) => ledger.send(base, id)));
  for (const s of down) {
    expect(s.status).toBe(503);
    expect(s.ms).toBeLessThan(2_000);
  }
  const one = await http(base, 'POST', `/sessions/${sessions[0]}/messages`, { content: 'down', if_busy: 'enqueue' });
  expect(one.status).toBe(503);
  expect(one.body.error.code).toBe('service_unavailable');
  expect(one.headers.get('retry-after')).toBe('1');
  expect((await http(base, 'GET', `/sessions/${sessions[0]}?wait=true&timeout=5`)).status).toBe(503);
  expect((await http(base, 'POST', '/sessions')).status).toBe(503);
  expect((await http(base, 'GET', '/health')).status).toBe(200);
  // The API that is starting does not listen yet: it cannot answer anything, let alone a 202.
  await expect(fetch(`http://127.0.0.1:${doomedPort}/health`)).rejects.toThrow();

  await redis.launch();
  const api = await late;
  await answering(base, sessions[0]!);
  // Both the API that kept running and the one that started during the outage accept again.
  for (const [i, id] of sessions.entries()) expect((await ledger.send(i % 2 ? api.url : base, id)).status).toBe(202);

  const figures = await checkInvariants(ledger, { base, receiver });
  expect(ledger.refused).toHaveLength(sessions.length);
  expect(ledger.unknown).toEqual([]);

  // Without Redis for its whole start-up, an API exits 1 and says why; it never listened.
  const err = await refusal;
  expect(err.message).toMatch(/exited with 1 before it was ready/);
  expect(err.message).toContain('Cannot reach Redis at redis://127.0.0.1:1 ');
  expect(err.message).not.toMatch(/Baton API listening/);
  report('Redis down', started, figures, { faults: 1, slowest503ms: Math.round(Math.max(...down.map((s) => s.ms))) });
});
