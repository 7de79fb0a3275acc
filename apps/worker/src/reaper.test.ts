import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTestRedis } from '@baton/devtools/test-redis';
import { UnrecoverableError, Worker, type Processor } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { type ChatMessage, queuePrefix } from '@baton/core';
import { waitUntil } from '@baton/devtools';
import { TURN_JOB_NAME, TURN_QUEUE, TurnQueue } from '@baton/queue';
import { SessionStore } from '@baton/store';
import { reapOnce, startReaper, type ReaperDeps } from './reaper.ts';

const GRACE = 50;
const T0 = 1_700_000_000_000;

let redis: Redis;
let prefix: string;
let clock: number;
let store: SessionStore;
let queue: TurnQueue;
let deps: ReaperDeps;
/** Sessions whose outbox the reaper flushed. */
let flushed: string[] = [];
const workers: Worker[] = [];

useTestRedis((client) => (redis = client));
beforeEach(() => {
  prefix = `t-${randomUUID()}`;
  clock = T0;
  store = new SessionStore(redis, { prefix, runningGraceMs: GRACE, now: () => clock });
  queue = new TurnQueue(redis, prefix);
  flushed = [];
  deps = {
    store,
    queue,
    logger: pino({ level: 'silent' }),
    flushOutbox: async (sessionId) => void flushed.push(sessionId),
    graceMs: GRACE,
    now: () => clock,
  };
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
  await queue.close();
});

const user = (content: string): ChatMessage => ({ role: 'user', content });

async function newSession(): Promise<string> {
  const sessionId = randomUUID();
  await store.create({ sessionId, agent: 'echo', tenant: '', state: [] });
  return sessionId;
}

/** Accepts a message the way the API does, minus the enqueue (as if the API died there). */
async function accept(sessionId: string, content: string, policy: 'reject' | 'enqueue' = 'reject'): Promise<string> {
  const turnId = randomUUID();
  const result = await store.submit({ sessionId, turnId, message: user(content), webhook: null, policy });
  expect(result.kind).toBe(policy === 'reject' ? 'started' : 'queued');
  return turnId;
}

async function runningScore(sessionId: string): Promise<number | null> {
  const score = await redis.zscore(store.keys.running, sessionId);
  return score === null ? null : Number(score);
}

/** A worker on this test's queue that handles exactly the jobs it is given with `process`. */
async function startWorker(process: Processor): Promise<Worker> {
  const worker = new Worker(TURN_QUEUE, process, { connection: redis, prefix: queuePrefix(prefix) });
  worker.on('error', () => {});
  workers.push(worker);
  await worker.waitUntilReady();
  return worker;
}

describe('reapOnce', () => {
  it('leaves entries alone until their check time', async () => {
    const id = await newSession();
    const turnId = await accept(id, 'hi');
    clock = T0 + GRACE - 1;
    expect(await reapOnce(deps)).toBe(0);
    expect(flushed).toEqual([]);
    expect(await queue.queueFor(id).getJob(turnId)).toBeUndefined();
    expect(await runningScore(id)).toBe(T0 + GRACE);
  });

  it('enqueues a started turn whose job never arrived, with the turn id as job id', async () => {
    const id = await newSession();
    const turnId = await accept(id, 'hi');
    expect(await queue.jobState(id, turnId)).toEqual({ state: 'missing' });

    clock = T0 + GRACE;
    expect(await reapOnce(deps)).toBe(1);

    const job = await queue.queueFor(id).getJob(turnId);
    expect(job?.name).toBe(TURN_JOB_NAME);
    expect(job?.data).toEqual({ session_id: id, turn_id: turnId });
    expect(await job?.getState()).toBe('waiting');
    // Checked again one grace period later.
    expect(await runningScore(id)).toBe(clock + GRACE);
    // The session itself is untouched.
    expect(await store.get(id)).toMatchObject({ status: 'running', turn_id: turnId });
  });

  it('leaves a turn accepted less than a grace period ago to its producer, even when its check is due', async () => {
    const id = await newSession();
    const turnId = await accept(id, 'hi');
    await store.running.mark(id, T0 - GRACE); // an earlier turn's check, already due
    clock = T0 + 10;
    expect((await store.running.due(10)).map((e) => e.sessionId)).toEqual([id]);
    expect(await reapOnce(deps)).toBe(0);
    expect(await queue.queueFor(id).getJob(turnId)).toBeUndefined();
    expect(await runningScore(id)).toBe(T0 + GRACE);
  });

  it('postpones the check of a turn whose job is alive, enqueueing nothing more', async () => {
    const id = await newSession();
    const turnId = await accept(id, 'hi');
    await queue.enqueue({ session_id: id, turn_id: turnId });

    clock = T0 + GRACE;
    expect(await reapOnce(deps)).toBe(0);
    expect(await runningScore(id)).toBe(clock + GRACE);
    expect((await queue.getJobCounts('wait')).wait).toBe(1);

    // The next pass finds it alive again (no duplicate job either way).
    clock += GRACE;
    expect(await reapOnce(deps)).toBe(0);
    expect((await queue.getJobCounts('wait')).wait).toBe(1);
  });

  it('releases the entry of a session that is no longer running', async () => {
    const id = await newSession();
    const turnId = await accept(id, 'hi');
    const claim = await store.claim(id, turnId);
    if (claim.kind !== 'ok') throw new Error('claim failed');
    await store.finish(id, turnId, claim.fence, { ok: true, reply: { role: 'assistant', content: 'hello' } });
    expect(await runningScore(id)).toBe(T0 + GRACE);

    clock = T0 + GRACE;
    expect(await reapOnce(deps)).toBe(0);
    expect(await runningScore(id)).toBeNull();
    expect(await queue.queueFor(id).getJob(turnId)).toBeUndefined();
    expect(await store.get(id)).toMatchObject({ status: 'idle', turn_id: turnId });
    // A worker that died right after finishing left its webhooks in the outbox: flushed here.
    expect(flushed).toEqual([id]);
  });

  it('releases the entry of a deleted session', async () => {
    const id = await newSession();
    await accept(id, 'hi');
    await store.delete(id);
    clock = T0 + GRACE;
    expect(await reapOnce(deps)).toBe(0);
    expect(await runningScore(id)).toBeNull();
    expect(await store.get(id)).toBeNull();
    expect(flushed).toEqual([id]);
  });

  it('finishes a turn whose job failed for good, then starts and enqueues the next queued message', async () => {
    const id = await newSession();
    const first = await accept(id, 'first');
    const second = await accept(id, 'second', 'enqueue');
    await startWorker(async () => {
      throw new UnrecoverableError('redis went away');
    });
    await queue.enqueue({ session_id: id, turn_id: first });
    await waitUntil(async () => (await queue.jobState(id, first)).state === 'failed', { what: 'the first job to fail' });
    await Promise.all(workers.splice(0).map((w) => w.close()));
    expect(await queue.jobState(id, first)).toEqual({ state: 'failed', reason: 'redis went away' });

    clock = T0 + GRACE;
    const scheduled = (await runningScore(id)) as number;
    expect(await reapOnce(deps)).toBe(1);

    expect(await store.get(id)).toMatchObject({ status: 'running', turn_id: second, pending_messages: 0, total_messages: 2 });
    expect(await store.messages(id)).toEqual([user('first'), user('second')]);
    const next = await queue.queueFor(id).getJob(second);
    expect(next?.data).toEqual({ session_id: id, turn_id: second });
    expect(await next?.getState()).toBe('waiting');
    // The started turn's check is re-marked, never later than it was.
    expect(await runningScore(id)).toBe(scheduled - 1);
    // The failed turn can no longer be claimed; the next one can.
    expect(await store.claim(id, first)).toEqual({ kind: 'stale' });
    expect(await store.claim(id, second)).toMatchObject({ kind: 'ok', history: [user('first'), user('second')] });
  });

  it('records the failure reason on the session when no message waits', async () => {
    const id = await newSession();
    const turnId = await accept(id, 'only');
    await startWorker(async () => {
      throw new UnrecoverableError('no connection');
    });
    await queue.enqueue({ session_id: id, turn_id: turnId });
    await waitUntil(async () => (await queue.jobState(id, turnId)).state === 'failed', { what: 'the job to fail' });

    clock = T0 + GRACE;
    expect(await reapOnce(deps)).toBe(1);
    expect(await store.get(id)).toMatchObject({ status: 'error', error: 'Turn failed: no connection', turn_id: turnId });
    expect(flushed).toEqual([id]);

    // The next pass drops the entry: the session no longer runs.
    clock += GRACE;
    expect(await reapOnce(deps)).toBe(0);
    expect(await runningScore(id)).toBeNull();
  });

  it('finishes with an error a turn whose job completed without recording a result', async () => {
    const id = await newSession();
    const turnId = await accept(id, 'lost');
    await startWorker(async () => 'stale');
    await queue.enqueue({ session_id: id, turn_id: turnId });
    await waitUntil(async () => (await queue.jobState(id, turnId)).state === 'completed', { what: 'the job to complete' });

    clock = T0 + GRACE;
    expect(await reapOnce(deps)).toBe(1);
    expect(await store.get(id)).toMatchObject({ status: 'error', error: 'Turn failed: its result was lost' });
  });

  it('drains every due entry in one pass, batch after batch', async () => {
    const ids: string[] = [];
    const turns: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await newSession());
      turns.push(await accept(ids[i]!, 'x'));
    }
    clock = T0 + GRACE;
    expect(await reapOnce({ ...deps, batch: 2 })).toBe(5);
    for (const [i, turnId] of turns.entries()) expect((await queue.jobState(ids[i]!, turnId)).state).toBe('alive');
  });

  it('stops taking batches once its budget is spent; the next pass goes on from there', async () => {
    const ids: string[] = [];
    const turns: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await newSession());
      turns.push(await accept(ids[i]!, 'x'));
    }
    clock = T0 + GRACE;
    expect(await reapOnce({ ...deps, batch: 2, budgetMs: 0 })).toBe(2);
    expect((await queue.getJobCounts('wait')).wait).toBe(2);
    expect(await reapOnce({ ...deps, batch: 2, budgetMs: 0 })).toBe(2);
    expect(await reapOnce({ ...deps, batch: 2, budgetMs: 0 })).toBe(1);
    for (const [i, turnId] of turns.entries()) expect((await queue.jobState(ids[i]!, turnId)).state).toBe('alive');
  });
});

describe('reapOnce with pollMs (how startReaper runs a pass)', () => {
  it('goes on with entries that come due while the pass lasts, and reports how late each was checked', async () => {
    const a = await newSession();
    const b = await newSession();
    await accept(a, 'x');
    const turnB = await accept(b, 'y');
    // Orphans accepted a grace period ago: a due now, b 300 ms later.
    clock = T0 + 60_000;
    await redis.zadd(store.keys.running, clock, a, clock + 300, b);
    // Once the pass has checked what was due and looks for what comes next, 300 ms pass.
    const nextDue = store.running.nextDue.bind(store.running);
    let looks = 0;
    store.running.nextDue = async (skip) => {
      if (looks++ === 0) clock += 300;
      return nextDue(skip);
    };
    const lags: number[] = [];
    const repaired = await reapOnce({ ...deps, graceMs: 60_000, pollMs: 10, budgetMs: 30_000, onChecked: (batch) => lags.push(...batch) });

    // Without pollMs the pass would have ended after a (b was not due when it started).
    expect(repaired).toBe(2);
    expect((await queue.jobState(b, turnB)).state).toBe('alive');
    expect(lags).toEqual([0, 0]);
    // Each checked again a grace period later: beyond the pass's budget, so it ended there.
    expect(await runningScore(a)).toBe(T0 + 120_000);
    expect(await runningScore(b)).toBe(T0 + 120_300);
  });

  it('ends at once when its signal aborts while it waits for the next entry', async () => {
    const a = await newSession();
    await accept(a, 'x');
    await redis.zadd(store.keys.running, T0 + 60_000, a);
    const stopping = new AbortController();
    const nextDue = store.running.nextDue.bind(store.running);
    store.running.nextDue = async (skip) => {
      const next = await nextDue(skip);
      // Aborted once the pass sleeps until a comes due (a minute away, within its budget).
      setTimeout(() => stopping.abort(), 0);
      return next;
    };
    expect(await reapOnce({ ...deps, pollMs: 10, budgetMs: 120_000, signal: stopping.signal })).toBe(0);
    expect(await runningScore(a)).toBe(T0 + 60_000);
  });
});

describe('a turn waiting for a person (interrupted)', () => {
  /** A session whose turn stopped at an interrupt at `clock` (no job: the worker's job completed). */
  async function waiting(): Promise<{ id: string; turnId: string }> {
    const id = await newSession();
    const turnId = await accept(id, 'ask');
    const claim = await store.claim(id, turnId);
    if (claim.kind !== 'ok') throw new Error(claim.kind);
    await store.steps.record({ sessionId: id, turnId, fence: claim.fence, index: 0, messages: [], interrupt: { type: 'user_input', payload: null } });
    return { id, turnId };
  }

  it('is not a stuck running turn: without INTERRUPT_TIMEOUT_S it waits, its entry dropped, no job queued', async () => {
    const { id } = await waiting();
    clock += 10 * GRACE;
    await reapOnce(deps);
    expect(await store.get(id)).toMatchObject({ status: 'interrupted' });
    expect(await runningScore(id)).toBeNull();
    expect(await queue.getJobCounts('waiting', 'active')).toMatchObject({ waiting: 0, active: 0 });
  });

  it('with INTERRUPT_TIMEOUT_S: checked again until the wait is past it, then ended with an error and its event flushed', async () => {
    const { id, turnId } = await waiting();
    deps.interruptTimeoutMs = 1_000;
    // The turn's check (from its start) comes due half-way through the wait: put off to its end.
    clock = T0 + 500;
    await reapOnce(deps);
    expect(await store.get(id)).toMatchObject({ status: 'interrupted' });
    expect(await runningScore(id)).toBe(T0 + 1_000);

    clock = T0 + 1_000;
    await reapOnce(deps);
    const view = await store.get(id);
    expect(view).toMatchObject({ status: 'error', error: 'Turn ended: no answer to its interrupt within 1s (INTERRUPT_TIMEOUT_S)', interrupts: [] });
    expect(flushed).toEqual([id]);
    expect(await runningScore(id)).toBeNull();
    expect(await redis.hget(store.sessionKeys(id).turns, turnId)).toBe('failed');
  });
});

describe('startReaper', () => {
  it('runs one pass per interval across all workers: the pass lock goes to one of them at a time', async () => {
    const INTERVAL = 100;
    const passes: number[] = [];
    // Three workers' reapers on one deployment; a pass starts with a read of the due entries.
    const counted = (worker: number): ReaperDeps => {
      const own = new SessionStore(redis, { prefix, runningGraceMs: GRACE });
      const due = own.running.due.bind(own.running);
      own.running.due = (...args) => (passes.push(worker), due(...args));
      return { ...deps, store: own, now: Date.now };
    };
    const begun = performance.now();
    const reapers = [0, 1, 2].map((w) => startReaper(counted(w), INTERVAL));
    try {
      await waitUntil(() => passes.length >= 10, { timeoutMs: 30_000, what: '10 reaper passes' });
    } finally {
      await Promise.all(reapers.map((r) => r.stop()));
    }
    const elapsed = performance.now() - begun;
    // Each pass took the lock, which lapses after 0.9 interval and is never released early:
    // passes start at least that far apart (in Redis's time, which elapsed within `elapsed`).
    // Without the lock, three reapers would make about three passes per interval.
    expect(passes.length).toBeLessThanOrEqual(Math.floor(elapsed / (INTERVAL * 0.9)) + 1);
  });
});
