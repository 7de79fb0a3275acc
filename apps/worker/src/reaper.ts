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
  batch?: number;
  now?: () => number;
}

/**
 * Repairs running turns that nothing will finish. Every started turn has an entry in
 * the running index, written before the turn itself; when its check time comes:
 * - the session is no longer running (or is gone) → its outbox is flushed (webhooks of
 *   a turn whose worker died right after finishing it) and the entry is dropped;
 * - the turn's job is missing (the API died before enqueueing) → it is enqueued again;
 * - the job failed for good → the turn ends with an error and the next message starts;
 * - the job is alive (waiting, active, retrying) → checked again later;
 * - the turn waits for a person (`interrupted`: no job, no worker) → nothing to repair; with
 *   an interrupt timeout, it ends with an error once the wait is past it (checked again until then).
 * Safe to run in every worker at once: each repair is idempotent.
 */
export async function reapOnce(deps: ReaperDeps): Promise<number> {
  const due = await deps.store.dueRunning(deps.batch ?? 200);
  // Entries are independent: check them all at once (their commands share round trips).
  const repaired = await Promise.all(due.map((entry) => reapEntry(deps, entry)));
  return repaired.filter(Boolean).length;
}

/** Checks one due entry; true when it repaired something. */
async function reapEntry(deps: ReaperDeps, entry: RunningEntry): Promise<boolean> {
  const turn = await deps.store.runningTurn(entry.sessionId);
  if (turn?.status === 'interrupted' && deps.interruptTimeoutMs) return endLongWait(deps, entry, turn.turnId, deps.interruptTimeoutMs);
  if (!turn || turn.status !== 'running') {
    await deps.flushOutbox(entry.sessionId);
    await deps.store.releaseRunning(entry);
    return false;
  }
  const job = await deps.queue.jobState(entry.sessionId, turn.turnId, turn.run);
  const log = deps.logger.child({ sessionId: entry.sessionId, turnId: turn.turnId });
  const age = (deps.now ?? Date.now)() - turn.acceptedAt;
  if (job.state === 'missing' && age < deps.graceMs) {
    // Accepted moments ago: its producer may still be enqueueing it.
    await deps.store.postpone(entry.sessionId, deps.graceMs - age);
    return false;
  }
  if (job.state === 'alive') {
    await deps.store.postpone(entry.sessionId, deps.graceMs);
    return false;
  }
  if (job.state === 'missing') {
    log.warn('running turn has no job (its producer died before enqueueing): enqueued again');
    await deps.queue.enqueue({ session_id: entry.sessionId, turn_id: turn.turnId, run: turn.run });
    await deps.store.postpone(entry.sessionId, deps.graceMs);
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
    await deps.store.postpone(entry.sessionId, ended.leftMs);
    return false;
  }
  if (ended.kind === 'ended') {
    deps.logger.warn({ sessionId: entry.sessionId, turnId }, 'turn waited for a person past INTERRUPT_TIMEOUT_S: ended with an error');
    if (ended.startedTurnId) await deps.queue.enqueue({ session_id: entry.sessionId, turn_id: ended.startedTurnId });
    await deps.flushOutbox(entry.sessionId);
    // A queued turn started: its check comes later, like any running turn's.
    if (ended.startedTurnId) await deps.store.postpone(entry.sessionId, deps.graceMs);
    else await deps.store.releaseRunning(entry);
    return true;
  }
  // Resumed or ended meanwhile: checked again as a running turn if it runs.
  await deps.store.postpone(entry.sessionId, 0);
  return false;
}

/** Runs `reapOnce` every `intervalMs` until stopped. */
export function startReaper(deps: ReaperDeps, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running
      .then(() => reapOnce(deps))
      .catch((err) => deps.logger.warn({ err: (err as Error).message }, 'reaper pass failed; will retry'));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
