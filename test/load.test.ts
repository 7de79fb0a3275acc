import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { type BatonProcess, waitUntil } from '@baton/devtools';
import { Baton, FAST_RECOVERY, type JsonResponse, createSession, http } from './support/baton.ts';
import { Receiver } from './support/receiver.ts';

/**
 * Load: 2 API and 2 worker processes, LOAD_SESSIONS sessions × 5 messages (300 in `npm test`;
 * `npm run test:load` runs the full 2,000, as `.ci/run` does),
 * each message with a busy policy drawn from a seeded PRNG (LOAD_SEED to replay a run's
 * draws), and one worker SIGKILLed in the middle (a replacement joins later). Afterwards
 * every session's history is exactly its accepted messages, in order, each followed by its
 * one reply, or by none when a later interrupt cancelled its turn. Which turns completed and
 * which were cancelled is known from each turn's webhook event, de-duplicated by `webhook-id`.
 */
const SESSIONS = Number(process.env.LOAD_SESSIONS ?? 300);
const MESSAGES = 5;
/** Sessions sending at once; each sends its messages one after another. */
const IN_FLIGHT = 200;
const SEED = Number(process.env.LOAD_SEED ?? Math.floor(Math.random() * 2 ** 32));
/** The echo agent's reply delay: how long a turn runs unless an interrupt cancels it. */
const ECHO_DELAY_MS = 50;
const POLICIES = ['reject', 'enqueue', 'interrupt'] as const;
type Policy = (typeof POLICIES)[number];

interface Sent {
  content: string;
  policy: Policy;
  status: number;
  turnId?: string;
  queued?: boolean;
  cancelledTurnId?: string;
}
interface Run {
  id: string;
  sent: Sent[];
}
interface TurnEvent {
  type: string;
  body: any;
  deliveries: number;
}

let baton: Baton;
let receiver: Receiver;
/** The worker killed midway; it logs at debug level so its claimed turns can be counted. */
let doomed: BatonProcess;

beforeAll(async () => {
  receiver = await Receiver.start();
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    apis: 2,
    workers: 1,
    // Info, not the harness's debug, and no request lines: ~25,000 requests' log lines
    // would cost these two shared cores more than the turns do.
    env: { ...FAST_RECOVERY, WEBHOOK_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'info', LOG_REQUESTS: 'false' },
    // A short turn, yet long enough that a session's next POST often meets its running
    // (or still queued) turn, even when the machine is busy and POSTs are slow.
    workerEnv: { ECHO_DELAY_MS: String(ECHO_DELAY_MS) },
  });
  doomed = await baton.startWorker({ LOG_LEVEL: 'debug' });
});
afterAll(async () => {
  await baton?.stop();
  await receiver?.close();
});

/** mulberry32: a small seeded PRNG, so a run's policy draws can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Runs `fn(0..count-1)` with at most `limit` calls in flight. */
async function pool<T>(count: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
  return out;
}

/** Terminal events by turn id, de-duplicated by `webhook-id` (`msg_<turn id>`). */
function turnEvents(): Map<string, TurnEvent> {
  const events = new Map<string, TurnEvent>();
  for (const req of receiver.requests) {
    const turnId = req.headers['webhook-id']!.replace(/^msg_/, '');
    const seen = events.get(turnId);
    if (seen) {
      seen.deliveries++;
      // A redelivery is the same event: same type and body.
      expect(req.json, `redelivery of ${turnId}`).toEqual(seen.body);
    } else events.set(turnId, { type: req.json.type, body: req.json, deliveries: 1 });
  }
  return events;
}

/**
 * The turns a worker has claimed and not finished, by claim time, from its debug log as
 * read so far (`update` parses only what arrived since the last call).
 */
class OpenTurns {
  readonly open = new Map<string, number>();
  private parsed = 0;

  update(output: string): this {
    const end = output.lastIndexOf('\n') + 1; // a line still being written waits for its end
    for (const line of output.slice(this.parsed, end).split('\n')) {
      let entry: { msg?: string; turnId?: string; time?: number };
      try {
        entry = JSON.parse(line);
      } catch {
        continue; // a blank line, or the last one cut short by the kill
      }
      if (entry.msg === 'turn claimed') this.open.set(entry.turnId!, entry.time!);
      else if (entry.turnId && /turn finished|stale result discarded/.test(entry.msg ?? '')) this.open.delete(entry.turnId);
    }
    this.parsed = Math.max(this.parsed, end);
    return this;
  }

  /** Whether a turn was claimed less than `ms` ago (same machine, same clock). */
  claimedWithin(ms: number): boolean {
    const since = Date.now() - ms;
    for (const at of this.open.values()) if (at > since) return true;
    return false;
  }
}

/**
 * Why turns' events came more than once (at least once is the promise), from the delivery
 * logs. `afterTimeout`: the receiver, in this test process busy sending the POSTs, answered
 * after the worker's WEBHOOK_TIMEOUT_MS and the retry delivered again. `other`: sent by the
 * killed worker, which died before recording it; rerun once its job's lock lapsed.
 */
async function duplicateCauses(events: Map<string, TurnEvent>): Promise<{ afterTimeout: number; other: number }> {
  const counts = { afterTimeout: 0, other: 0 };
  for (const [turnId, event] of events) {
    if (event.deliveries === 1) continue;
    const log = await http(baton.url, 'GET', `/sessions/${event.body.session_id}/webhooks`);
    const delivery = log.body.find((d: { turn_id: string }) => d.turn_id === turnId);
    const timedOut = delivery?.attempts.some((a: { error: string | null }) => a.error === 'timeout');
    counts[timedOut ? 'afterTimeout' : 'other'] += event.deliveries - 1;
  }
  return counts;
}

async function runningSessions(): Promise<number> {
  let running = 0;
  let cursor: string | null = '';
  while (cursor !== null) {
    const query = cursor ? `&cursor=${cursor}` : '';
    const page: JsonResponse<{ status: string }[]> = await http(baton.apis[0]!.url, 'GET', `/sessions?limit=200${query}`);
    expect(page.status).toBe(200);
    running += page.body.filter((s) => s.status === 'running').length;
    cursor = page.headers.get('x-next-cursor');
  }
  return running;
}

it(`${SESSIONS} sessions × ${MESSAGES} messages, random busy policies, a worker killed midway: every history is its accepted messages, in order, each with one reply unless cancelled`, async () => {
  const started = Date.now();
  const random = prng(SEED);
  const policies = Array.from({ length: SESSIONS }, () =>
    Array.from({ length: MESSAGES }, () => POLICIES[Math.floor(random() * POLICIES.length)]!),
  );
  const total = SESSIONS * MESSAGES;
  let answered = 0;
  let killedAt = 0;
  let replacement: Promise<unknown> | null = null;
  // From 40 % of the answers on, the kill waits for a moment when the doomed worker's log
  // shows a turn it claimed less than half an echo delay ago, so the kill lands mid-turn.
  // The replacement joins at 70 %, or at once if the kill came later than that.
  const seen = new OpenTurns();
  const onAnswered = () => {
    answered++;
    if (!killedAt && answered >= Math.floor(total * 0.4) && seen.update(doomed.output).claimedWithin(ECHO_DELAY_MS / 2)) {
      killedAt = Date.now();
      doomed.kill('SIGKILL');
    }
    if (killedAt && answered >= Math.floor(total * 0.7) && !replacement) replacement = baton.startWorker();
  };

  // Each session alternates between the two API processes.
  const runs: Run[] = await pool(SESSIONS, IN_FLIGHT, async (i) => {
    const id = await createSession(baton.apis[i % 2]!.url, { webhook: { url: `${receiver.url}/hook` } });
    const sent: Sent[] = [];
    for (let j = 0; j < MESSAGES; j++) {
      const content = `s${i}m${j}`;
      const policy = policies[i]![j]!;
      const res = await http(baton.apis[(i + j) % 2]!.url, 'POST', `/sessions/${id}/messages`, { content, if_busy: policy });
      onAnswered();
      const { turn_id: turnId, queued, cancelled_turn_id: cancelledTurnId } = res.body;
      sent.push({ content, policy, status: res.status, turnId, queued, cancelledTurnId: cancelledTurnId ?? undefined });
      // Only `reject` may be refused, and only as busy; nothing else but 202.
      if (res.status !== 202) expect([policy, res.status, res.body.error?.code]).toEqual(['reject', 409, 'session_running']);
    }
    return { id, sent };
  });
  const postsDone = Date.now();
  expect(killedAt, 'the kill waited for a turn claimed moments before, and saw none').toBeGreaterThan(0);
  await doomed.exited; // and its output is read to the end
  await (replacement ?? baton.startWorker());
  // The kill landed while the worker was running turns (claimed, no result logged yet).
  const inFlightAtKill = [...new OpenTurns().update(doomed.output).open.keys()];
  expect(inFlightAtKill.length, `claimed ${doomed.count(/turn claimed/)}, finished ${doomed.count(/turn finished/)}`).toBeGreaterThan(0);

  const accepted = runs.flatMap((r) => r.sent.filter((s) => s.status === 202));
  // Not settling in time is a failure too, but the per-session check below says which
  // turns are missing, which a bare timeout would not.
  const settled = await waitUntil(
    async () => {
      const events = turnEvents();
      return accepted.every((s) => events.has(s.turnId!)) && (await runningSessions()) === 0;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: 'every accepted turn to end' },
  ).then(
    () => true,
    () => false,
  );
  const events = turnEvents();
  const settledAt = Date.now();
  const duplicates = await duplicateCauses(events);

  // Every session: its history, its final state, and one terminal event per accepted turn.
  const acceptedIds = new Set(accepted.map((s) => s.turnId!));
  const cancelledByInterrupt = new Set(accepted.map((s) => s.cancelledTurnId).filter(Boolean));
  const mismatches: unknown[] = [];
  let lost = 0;
  await pool(runs.length, 50, async (i) => {
    const { id, sent } = runs[i]!;
    const [view, history] = await Promise.all([
      http(baton.apis[i % 2]!.url, 'GET', `/sessions/${id}`),
      http(baton.apis[i % 2]!.url, 'GET', `/sessions/${id}/messages`),
    ]);
    const expected: { role: string; content: string }[] = [];
    let last: { type: string; content: string } | undefined;
    for (const s of sent.filter((x) => x.status === 202)) {
      expected.push({ role: 'user', content: s.content });
      const event = events.get(s.turnId!);
      if (!event) lost++;
      if (event?.type === 'turn.completed') expected.push({ role: 'assistant', content: `echo: ${s.content}` });
      last = { type: event?.type ?? 'none', content: s.content };
      const eventOk =
        event?.body.session_id === id &&
        event.body.turn_id === s.turnId &&
        (event.type === 'turn.completed'
          ? event.body.response?.content === `echo: ${s.content}`
          : event.type === 'turn.cancelled' && event.body.error === 'Turn cancelled' && cancelledByInterrupt.has(s.turnId));
      if (!eventOk) mismatches.push({ id, turn: s, event: event?.body ?? null });
    }
    const actual = history.body.map((m: { role: string; content: string }) => ({ role: m.role, content: m.content }));
    const finalOk =
      view.body.status === 'idle' &&
      view.body.pending_messages === 0 &&
      (last?.type === 'turn.cancelled' ? view.body.error === 'Turn cancelled' : view.body.response?.content === `echo: ${last?.content}`);
    if (JSON.stringify(actual) !== JSON.stringify(expected) || !finalOk) {
      mismatches.push({ id, sent, expected, actual, view: view.body });
    }
  });

  const types = [...events.values()].map((e) => e.type);
  const figures = {
    seed: SEED,
    sessions: SESSIONS,
    posts: total,
    accepted: accepted.length,
    refused409: total - accepted.length,
    byPolicy: Object.fromEntries(
      POLICIES.map((p) => [p, runs.flatMap((r) => r.sent).filter((s) => s.policy === p && s.status === 202).length]),
    ),
    enqueuedBehindATurn: accepted.filter((s) => s.policy === 'enqueue' && s.queued).length,
    interruptsNamingATurn: accepted.filter((s) => s.cancelledTurnId).length,
    interruptsThatCancelled: accepted.filter((s) => s.cancelledTurnId && events.get(s.cancelledTurnId)?.type === 'turn.cancelled').length,
    turnsCompleted: types.filter((t) => t === 'turn.completed').length,
    turnsCancelled: types.filter((t) => t === 'turn.cancelled').length,
    turnsInFlightOnKilledWorker: inFlightAtKill.length,
    duplicateDeliveries: receiver.requests.length - events.size,
    duplicatesAfterTimeout: duplicates.afterTimeout,
    duplicatesOther: duplicates.other,
    lost,
    settled,
    killedAtMs: killedAt - started,
    postsMs: postsDone - started,
    settleMs: settledAt - postsDone,
    wallMs: Date.now() - started,
  };
  console.log('load figures', JSON.stringify(figures));

  expect(mismatches.length, JSON.stringify(mismatches.slice(0, 3), null, 1)).toBe(0);
  expect(lost).toBe(0);
  expect(settled).toBe(true);
  // One event per accepted turn, none for anything else (refused POSTs have no turn).
  expect([...events.keys()].filter((t) => !acceptedIds.has(t))).toEqual([]);
  expect(events.size).toBe(accepted.length);
  expect(figures.turnsCompleted + figures.turnsCancelled).toBe(accepted.length);
  // The policies did meet busy sessions: refusals, queued messages and cancelled turns.
  expect(figures.refused409).toBeGreaterThan(0);
  expect(figures.enqueuedBehindATurn).toBeGreaterThan(0);
  expect(figures.turnsCancelled).toBeGreaterThan(0);
}, 240_000);
