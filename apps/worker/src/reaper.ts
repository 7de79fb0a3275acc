import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { TurnQueue } from '@baton/queue';
import type { RunningEntry, SessionStore } from '@baton/store';

export interface ReaperDeps {
  store: SessionStore;
  queue: TurnQueue;
  logger: Logger;
  /** Queues the webhook deliveries of a session's turn-end events (its outbox). */
  flushOutbox: (sessionId: string) => Promise<unknown>;
  /** How long a turn may wait for its job to appear before the reaper re-enqueues it. */
  graceMs: number;
  /** INTERRUPT_TIMEOUT_S in ms: a turn waiting for a person longer ends with an error. Unset: it waits. */
  interruptTimeoutMs?: number;
  /**
   * Entries checked at once, in a few commands for the batch; default 1000 (each of its script
   * calls takes Redis about 2 ms; smaller batches cost more round trips per entry).
   */
  batch?: number;
  /** A pass stops taking new batches after this long (ms; the rest waits for the next pass). Default: no limit. */
  budgetMs?: number;
  /**
   * Within its budget, a pass also checks the entries that come due while it lasts, reading
   * the index again at most every `pollMs`. Unset: it ends once what was due at its start is done.
   */
  pollMs?: number;
  /** Ends a pass early: after its current batch, or at once while it waits for entries to come due. */
  signal?: AbortSignal;
  /** Called after each batch with how late its entries were checked (ms after their check time). */
  onChecked?: (lagsMs: number[]) => void;
  now?: () => number;
}

/**
 * Repairs running turns that nothing will finish, then releases what expired sessions left.
 * Every started turn has an entry in the running index, written before the turn itself; when
 * its check time comes:
 * - the session is no longer running (or is gone) → its outbox is flushed (webhooks of
 *   a turn whose worker died right after finishing it) and the entry is dropped;
 * - the turn's job is missing (the API died before enqueueing) → it is enqueued again;
 * - the job failed for good → the turn ends with an error and the next message starts;
 * - the job is alive (waiting, active, retrying) → checked again later;
 * - the turn waits for a person (`interrupted`: no job, no worker) → nothing to repair; with
 *   an interrupt timeout, it ends with an error once the wait is past it (checked again until then).
 * A pass drains every entry due when it starts, earliest first, in batches, until none is
 * left or its budget is spent. Then it drains the expiring index the same way (SESSION_TTL_S,
 * `SessionExpiry.sweep`): the index entries and byte counts of sessions whose keys Redis has
 * expired are released, live ones are looked at again later. With `pollMs`, it then goes on
 * with the running entries that come due, until its budget ends. Each repair is idempotent,
 * so two passes at once do no harm; `startReaper` still runs one pass per interval across
 * all workers (a lock).
 */
export async function reapOnce(deps: ReaperDeps): Promise<number> {
  const batch = deps.batch ?? 1_000;
  const budgetMs = deps.budgetMs ?? Infinity;
  const now = deps.now ?? Date.now;
  const started = performance.now();
  const spent = () => performance.now() - started >= budgetMs || Boolean(deps.signal?.aborted);
  let repaired = 0;
  // Entries whose check threw stay due: later batches pass over them (retried next pass).
  let failed = 0;
  /** Every running entry due by `upTo`, batch after batch, while the budget lasts. */
  const drain = async (upTo: number) => {
    for (;;) {
      const due = await deps.store.running.due(batch, upTo, failed);
      const checked = await checkBatch(deps, due);
      repaired += checked.repaired;
      failed += checked.failed;
      if (due.length < batch || spent()) return;
    }
  };
  const upTo = now();
  await drain(upTo);
  // Then expired sessions, with what is left of the budget.
  let skip = 0;
  while (!spent()) {
    const swept = await deps.store.expiry.sweep(batch, upTo, skip);
    // Entries whose look threw stay due: later batches pass over them (retried next pass).
    skip += swept.failed;
    if (swept.failed > 0) deps.logger.warn({ failed: swept.failed }, 'expired-session check failed; will retry');
    if (swept.released > 0) deps.logger.info({ released: swept.released }, 'expired sessions released (SESSION_TTL_S)');
    if (swept.due < batch) break;
  }
  // Then the running entries that come due, as they come, until the budget ends.
  while (deps.pollMs !== undefined && !spent()) {
    const next = await deps.store.running.nextDue(failed);
    if (next === null) break;
    const waitMs = Math.max(deps.pollMs, next - now());
    if (performance.now() - started + waitMs >= budgetMs) break;
    if (!(await sleep(waitMs, deps.signal))) break;
    await drain(now());
  }
  return repaired;
}

/** Checks a batch of due entries: how many it repaired, and how many checks threw. */
async function checkBatch(deps: ReaperDeps, due: RunningEntry[]): Promise<{ repaired: number; failed: number }> {
  // Most entries are healthy turns (running, their job alive): postponed in bulk.
  const rest = await postponeHealthy(deps, due).catch(() => due);
  // The others are independent: checked all at once (their commands share round trips).
  const results = await Promise.allSettled(rest.map((entry) => reapEntry(deps, entry)));
  let repaired = 0;
  const failed = new Set<RunningEntry>();
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') repaired += result.value ? 1 : 0;
    else {
      failed.add(rest[i] as RunningEntry);
      deps.logger.warn({ err: (result.reason as Error).message }, 'reaper check failed; will retry');
    }
  });
  if (deps.onChecked) {
    const at = (deps.now ?? Date.now)();
    deps.onChecked(due.filter((entry) => !failed.has(entry)).map((entry) => at - entry.dueAt));
  }
  return { repaired, failed: failed.size };
}

/**
 * Postpones, in a few commands for the whole batch, the entries whose turn is running with
 * its job alive (what `reapEntry` does one by one); returns the entries left to check.
 */
async function postponeHealthy(deps: ReaperDeps, due: RunningEntry[]): Promise<RunningEntry[]> {
  if (due.length === 0) return due;
  const turns = await deps.store.running.turnIds(due.map((entry) => entry.sessionId));
  const running = due.flatMap((entry, i) => (turns[i]?.status === 'running' ? [{ entry, sessionId: entry.sessionId, turnId: turns[i].turnId, run: turns[i].run }] : []));
  const alive = await deps.queue.aliveJobs(running);
  const healthy = new Set(running.filter((_, i) => alive[i]).map((r) => r.entry));
  await deps.store.running.postponeMany([...healthy].map((entry) => entry.sessionId), deps.graceMs);
  return due.filter((entry) => !healthy.has(entry));
}

/** Checks one due entry; true when it repaired something. */
async function reapEntry(deps: ReaperDeps, entry: RunningEntry): Promise<boolean> {
  const turn = await deps.store.running.turn(entry.sessionId);
  if (turn?.status === 'interrupted' && deps.interruptTimeoutMs) return endLongWait(deps, entry, turn.turnId, deps.interruptTimeoutMs);
  if (!turn || turn.status !== 'running') {
    await deps.flushOutbox(entry.sessionId);
    await deps.store.running.release(entry);
    return false;
  }
  const job = await deps.queue.jobState(entry.sessionId, turn.turnId, turn.run);
  const log = deps.logger.child({ sessionId: entry.sessionId, turnId: turn.turnId });
  const age = (deps.now ?? Date.now)() - turn.acceptedAt;
  if (job.state === 'missing' && age < deps.graceMs) {
    // Accepted moments ago: its producer may still be enqueueing it.
    await deps.store.running.postpone(entry.sessionId, deps.graceMs - age);
    return false;
  }
  if (job.state === 'alive') {
    await deps.store.running.postpone(entry.sessionId, deps.graceMs);
    return false;
  }
  if (job.state === 'missing') {
    log.warn('running turn has no job (its producer died before enqueueing): enqueued again');
    await deps.queue.enqueue({ session_id: entry.sessionId, turn_id: turn.turnId, run: turn.run });
    await deps.store.running.postpone(entry.sessionId, deps.graceMs);
    return true;
  }
  const error = job.state === 'failed' ? `Turn failed: ${job.reason}` : 'Turn failed: its result was lost';
  log.warn({ error }, 'running turn whose job ended without a result: finished with an error');
  const finished = await deps.store.finish(entry.sessionId, turn.turnId, '*', { ok: false, error });
  if (finished.kind === 'ok' && finished.nextTurnId) {
    await deps.queue.enqueue({ session_id: entry.sessionId, turn_id: finished.nextTurnId });
  }
  await deps.flushOutbox(entry.sessionId);
  return true;
}

/** A turn waiting for a person: ended with an error once its wait passed the timeout. */
async function endLongWait(deps: ReaperDeps, entry: RunningEntry, turnId: string, timeoutMs: number): Promise<boolean> {
  const ended = await deps.store.steps.endWaitPast(entry.sessionId, turnId, timeoutMs);
  if (ended.kind === 'waiting') {
    await deps.store.running.postpone(entry.sessionId, ended.leftMs);
    return false;
  }
  if (ended.kind === 'ended') {
    deps.logger.warn({ sessionId: entry.sessionId, turnId }, 'turn waited for a person past INTERRUPT_TIMEOUT_S: ended with an error');
    if (ended.startedTurnId) await deps.queue.enqueue({ session_id: entry.sessionId, turn_id: ended.startedTurnId });
    await deps.flushOutbox(entry.sessionId);
    // A queued turn started: its check comes later, like any running turn's.
    if (ended.startedTurnId) await deps.store.running.postpone(entry.sessionId, deps.graceMs);
    else await deps.store.running.release(entry);
    return true;
  }
  // Resumed or ended meanwhile: checked again as a running turn if it runs.
  await deps.store.running.postpone(entry.sessionId, 0);
  return false;
}

/**
 * Runs a reaper pass every `intervalMs`, in one worker at a time: each worker's timer asks for
 * the pass lock, and only the one that gets it runs the pass, within 3/4 of an interval. The
 * lock lapses a little before the interval ends, so some worker's next tick always finds it
 * free. A pass checks what is due, then what comes due while it lasts (looking every
 * `intervalMs / 20`): an entry is checked within about a quarter of an interval after its
 * check time (unless the backlog ahead of it is larger than a pass can drain; it then waits
 * for the next pass).
 */
export function startReaper(deps: ReaperDeps, intervalMs: number): { stop(): Promise<void> } {
  const token = randomUUID();
  const lockMs = Math.max(1, Math.floor(intervalMs * 0.9));
  const stopping = new AbortController();
  const pass = { ...deps, budgetMs: deps.budgetMs ?? intervalMs * 0.75, pollMs: deps.pollMs ?? intervalMs / 20, signal: stopping.signal };
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const timer = setInterval(() => {
    // A pass longer than the interval (a slow Redis) is not queued up behind itself.
    if (busy) return;
    busy = true;
    running = deps.store
      .running.claimPass(token, lockMs)
      .then((mine) => (mine ? reapOnce(pass) : 0))
      .catch((err) => deps.logger.warn({ err: (err as Error).message }, 'reaper pass failed; will retry'))
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await running;
    },
  };
}

/** Waits `ms`; false when `signal` aborted the wait. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
