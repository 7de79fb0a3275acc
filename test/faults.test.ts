import { afterAll, afterEach, beforeAll, expect, inject, it } from 'vitest';
import { type BatonProcess, waitUntil } from '@baton/devtools';
import { Baton, FAST_RECOVERY, createSession, http } from './support/baton.ts';
import { type Figures, Ledger, checkInvariants, runLoad } from './support/invariants.ts';
import { Receiver } from './support/receiver.ts';

/**
 * Faults under load: 30 sessions send messages (`if_busy: "enqueue"`) while a process
 * is killed or stalled, or the webhook receiver is down. Afterwards the invariants of
 * test/support/invariants.ts must hold: no accepted turn lost, none applied twice, no
 * session left running, one terminal webhook event per turn (by `webhook-id`).
 * Redis restarts are in test/faults-redis.test.ts (they need a Redis of their own).
 */
let baton: Baton;
const receivers: Receiver[] = [];

beforeAll(async () => {
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { ...FAST_RECOVERY, WEBHOOK_ALLOW_PRIVATE: 'true' },
    // A delivery held by a worker that dies is taken over when its lock lapses, at twice
    // WEBHOOK_TIMEOUT_MS: 4 s here rather than 30.
    // No endpoint breaker: the receiver-down scenario counts every attempt of the schedule
    // (test/fairness.test.ts covers the breaker).
    workerEnv: { ECHO_DELAY_MS: '20', WEBHOOK_SCHEDULE: '0,100,100', WEBHOOK_TIMEOUT_MS: '2000', WEBHOOK_BREAKER_FAILURES: '0' },
  });
});
afterEach(async () => {
  // Faulty processes of a test never outlive it; the healthy API and worker stay.
  await Promise.all([...baton.apis.slice(1), ...baton.workers.slice(1)].map((p) => p.stop()));
});
afterAll(async () => {
  await baton?.stop();
  await Promise.all(receivers.map((r) => r.close()));
});

/** A receiver and `count` sessions whose default webhook points at it. */
async function setup(count = 30): Promise<{ receiver: Receiver; sessions: string[] }> {
  const receiver = await Receiver.start();
  receivers.push(receiver);
  const sessions = await Promise.all(Array.from({ length: count }, () => createSession(baton.url, { webhook: { url: receiver.url } })));
  return { receiver, sessions };
}

/**
 * Turn ids of a process's log lines whose message starts with `msg` (JSON lines); with
 * `sessions`, only lines of those sessions (the processes outlive a test: earlier tests' lines stay).
 */
function turnsLogged(proc: BatonProcess, msg: string, sessions?: string[]): Set<string> {
  const ids = new Set<string>();
  for (const line of proc.output.split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; turnId?: string; sessionId?: string };
      if (sessions && !sessions.includes(entry.sessionId ?? '')) continue;
      if (entry.msg?.startsWith(msg) && entry.turnId) ids.add(entry.turnId);
    } catch {
      // not a JSON line
    }
  }
  return ids;
}

function report(name: string, started: number, figures: Figures, extra: Record<string, unknown> = {}) {
  console.log(`[faults] ${name}: ${JSON.stringify({ ...figures, ...extra, seconds: (performance.now() - started) / 1000 })}`);
}

it('a worker SIGKILLed mid-turn: its turns are taken over, each runs once', async () => {
  const started = performance.now();
  const { receiver, sessions } = await setup();
  // Slow turns: whatever this worker has claimed when it dies is mid-turn.
  const doomed = await baton.startWorker({ ECHO_DELAY_MS: '3000' });
  const ledger = new Ledger('kill-worker');
  const load = runLoad({ ledger, sessions, target: () => baton.url, rounds: 3 });

  await ledger.acceptedAtLeast(40);
  await waitUntil(() => turnsLogged(doomed, 'turn claimed').size >= 3, { timeoutMs: 10_000, what: 'the doomed worker to claim turns' });
  doomed.kill('SIGKILL');
  await doomed.exited;
  const cutOff = [...turnsLogged(doomed, 'turn claimed')].filter((t) => !turnsLogged(doomed, 'turn finished').has(t));
  expect(cutOff.length).toBeGreaterThan(0);
  await load;

  const figures = await checkInvariants(ledger, { base: baton.url, receiver });
  expect(ledger.refused).toEqual([]);
  expect(ledger.unknown).toEqual([]);
  // The cut-off turns were accepted ones, and each ended once (checked above).
  const accepted = new Set(ledger.accepted.map((s) => s.turnId));
  for (const turn of cutOff) expect(accepted.has(turn)).toBe(true);
  report('worker SIGKILL', started, figures, { faults: 1, turnsCutOff: cutOff.length });
});

it('the API SIGKILLed between its state write and the enqueue: the reaper enqueues the orphan turns', async () => {
  const started = performance.now();
  const { receiver, sessions } = await setup();
  const healthy = baton.apis[0]!;
  const faulty = await baton.startApi({ BATON_FAULT: 'kill:api.after-state-write' });
  const ledger = new Ledger('kill-api');
  let switched = false;
  // Half the sessions move to the faulty API mid-way; it dies on the first turn it starts.
  const target = (i: number) => (switched && i % 2 === 1 && faulty.alive ? faulty.url : healthy.url);
  const load = runLoad({ ledger, sessions, target, rounds: 3, more: () => faulty.alive, maxRounds: 8 });

  await ledger.acceptedAtLeast(40);
  switched = true;
  expect((await faulty.exited).signal).toBe('SIGKILL');
  await load;

  const figures = await checkInvariants(ledger, { base: healthy.url, receiver });
  expect(ledger.refused).toEqual([]);
  // The turn the API died on was stored: the reaper found it without a job and enqueued it.
  const orphans = new Set(baton.workers.flatMap((w) => [...turnsLogged(w, 'running turn has no job', sessions)]));
  expect(orphans.size).toBeGreaterThan(0);
  const ran = new Set(receiver.requests.map((r) => r.json.turn_id));
  for (const turn of orphans) expect(ran.has(turn)).toBe(true);
  report('API SIGKILL after state write', started, figures, { faults: 1, orphansEnqueuedAgain: orphans.size });
});

it('a worker whose event loop is blocked past its lock: the turn is taken over and the stale result is discarded', async () => {
  const started = performance.now();
  const { receiver, sessions } = await setup();
  // The first turn it finishes blocks it once for 6 s, well past its 1 s lock, so the healthy
  // worker reruns that turn (and any other it held: on sharded queues a worker has a slot per
  // shard) long before this one wakes up.
  const stuck = await baton.startWorker({ BATON_FAULT: 'block:worker.after-agent-reply:6000:1', WORKER_CONCURRENCY: '1' });
  const ledger = new Ledger('blocked');
  const claimed = () => turnsLogged(stuck, 'turn claimed').size > 0;
  const load = runLoad({ ledger, sessions, target: () => baton.url, rounds: 3, more: () => !claimed(), maxRounds: 10 });
  await load;
  expect(claimed()).toBe(true);

  // It wakes, tries to record its result and is refused: the turn has moved on.
  await stuck.waitForLog(/stale result discarded/, 20_000);
  const stale = turnsLogged(stuck, 'stale result discarded');
  expect(stale.size).toBeGreaterThanOrEqual(1);
  stuck.kill('SIGKILL');
  await stuck.exited;

  const figures = await checkInvariants(ledger, { base: baton.url, receiver });
  expect(ledger.refused).toEqual([]);
  expect(ledger.unknown).toEqual([]);
  // Each discarded result's turn was claimed again, and finished, by the healthy worker.
  const rerun = turnsLogged(baton.workers[0]!, 'turn claimed');
  for (const turn of stale) expect(rerun.has(turn)).toBe(true);
  report('blocked event loop', started, figures, { faults: 1, staleResultsDiscarded: stale.size });
});

it('a webhook receiver down for the whole schedule: dead-lettered, then redelivered once with the same webhook-id', async () => {
  const started = performance.now();
  const { receiver, sessions } = await setup(20);
  // Down: every attempt fails (503, no Retry-After), so the short schedule runs out.
  receiver.reply = () => ({ status: 503 });
  const ledger = new Ledger('receiver-down');
  await runLoad({ ledger, sessions, target: () => baton.url, rounds: 1 });
  expect(ledger.accepted).toHaveLength(40);

  // Schedule 0,100,100: three attempts each, then dead.
  const mine = new Set(sessions);
  const dead = await waitUntil(
    async () => {
      const letters = (await http(baton.url, 'GET', '/webhooks/dead-letters?limit=500')).body.filter((d: any) => mine.has(d.session_id));
      return letters.length === ledger.accepted.length && letters;
    },
    { timeoutMs: 15_000, what: 'every delivery to be dead-lettered' },
  );
  const failedAttempts = receiver.requests.length;
  expect(failedAttempts).toBe(3 * dead.length);
  expect(new Set(dead.map((d: any) => d.webhook_id))).toEqual(new Set(ledger.accepted.map((s) => `msg_${s.turnId}`)));

  receiver.reply = () => ({ status: 200 });
  for (const d of dead) {
    const res = await http(baton.url, 'POST', `/sessions/${d.session_id}/webhooks/${d.id}/redeliver`);
    expect(res.status).toBe(202);
  }
  const figures = await checkInvariants(ledger, { base: baton.url, receiver });
  // After the receiver came back: exactly one request per event, the same body as before.
  const after = receiver.requests.slice(failedAttempts);
  expect(after.map((r) => r.headers['webhook-id']).sort()).toEqual(dead.map((d: any) => d.webhook_id).sort());
  for (const r of after) {
    expect(r.body).toBe(receiver.requests.find((q) => q.headers['webhook-id'] === r.headers['webhook-id'])!.body);
  }
  const letters = (await http(baton.url, 'GET', '/webhooks/dead-letters?limit=500')).body.filter((d: any) => mine.has(d.session_id));
  expect(letters).toEqual([]);
  report('receiver down', started, figures, { faults: 1, deadLettered: dead.length, redelivered: after.length });
});
