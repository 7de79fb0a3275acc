import { WaitingError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { type ChatMessage, type FaultHook, noFault } from '@baton/core';
import type { Agent } from '@baton/agents';
import { TurnJob, type TurnQueue } from '@baton/queue';
import type { SessionStore, TurnOutcome } from '@baton/store';
import type { ActiveTurns } from '../active-turns.ts';

export interface TurnRunDeps {
  store: SessionStore;
  queue: TurnQueue;
  agentFor: (name: string) => Agent;
  active: ActiveTurns;
  turnTimeoutMs: number;
  logger: Logger;
  /** Queues the webhook deliveries of the session's turn-end events (its outbox). */
  flushOutbox: (sessionId: string) => Promise<unknown>;
  fault?: FaultHook;
}

/** Why a turn's agent was stopped before it answered. */
export type StopReason = 'cancelled' | 'shutdown' | 'timeout';

/**
 * `turn.run`: claim the session's running turn, run its agent, record the outcome
 * (guarded by the claim's fence), then start the next queued message.
 */
export function makeTurnProcessor(deps: TurnRunDeps) {
  const fault = deps.fault ?? noFault;
  return async (job: Job, token?: string): Promise<string> => {
    const { session_id: sessionId, turn_id: turnId } = TurnJob.parse(job.data);
    const log = deps.logger.child({ sessionId, turnId });
    const claim = await deps.store.claim(sessionId, turnId);
    if (claim.kind !== 'ok') {
      log.debug({ claim: claim.kind }, 'turn is no longer running here; skipped');
      // A rerun after a crash between finishing and queueing the webhooks: queue them now.
      await flush(deps, sessionId, log);
      return claim.kind;
    }
    log.debug({ fence: claim.fence, attempt: job.attemptsMade }, 'turn claimed');
    fault('worker.after-claim');

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort('timeout' satisfies StopReason), deps.turnTimeoutMs);
    const release = deps.active.add(sessionId, turnId, controller);
    // Cancelled before any worker got to it: it ends without running the agent.
    if (claim.cancelled) controller.abort('cancelled' satisfies StopReason);
    let outcome: TurnOutcome;
    try {
      controller.signal.throwIfAborted();
      const reply = await runAgent(deps.agentFor(claim.agent), { sessionId, turnId, messages: claim.history, signal: controller.signal });
      outcome = { ok: true, reply };
    } catch (err) {
      const reason = controller.signal.aborted ? (controller.signal.reason as StopReason) : null;
      if (reason === 'shutdown') {
        // Hand the turn back: another worker (or this one, restarted) runs it again.
        log.info('worker shutting down: turn handed back to the queue');
        await job.moveToWait(token);
        throw new WaitingError();
      }
      outcome = { ok: false, error: errorText(err, reason, deps.turnTimeoutMs), cancelled: reason === 'cancelled' };
    } finally {
      clearTimeout(timer);
      release();
    }
    fault('worker.after-agent-reply');

    const finished = await deps.store.finish(sessionId, turnId, claim.fence, outcome);
    fault('worker.after-finish');
    if (finished.kind !== 'ok') {
      log.warn({ result: finished.kind }, 'stale result discarded: the turn was taken over, finished or deleted meanwhile');
      // A deleted session's turns end as cancelled: their events wait in its outbox.
      if (finished.kind === 'gone') await flush(deps, sessionId, log);
      return 'stale';
    }
    log.debug({ status: finished.status }, 'turn finished');
    if (finished.nextTurnId) {
      await deps.queue.enqueue({ session_id: sessionId, turn_id: finished.nextTurnId });
    }
    if (finished.notify) await flush(deps, sessionId, log);
    return finished.status;
  };
}

/** The turn's outcome is recorded already; a failed flush is retried by the reaper. */
async function flush(deps: TurnRunDeps, sessionId: string, log: Logger): Promise<void> {
  try {
    await deps.flushOutbox(sessionId);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'queueing webhooks failed; the reaper will retry');
  }
}

async function runAgent(agent: Agent, input: Parameters<Agent['run']>[0]): Promise<ChatMessage> {
  const reply = await agent.run(input);
  return { ...reply, role: 'assistant' };
}

function errorText(err: unknown, reason: StopReason | null, timeoutMs: number): string {
  if (reason === 'timeout') return `Turn timed out after ${timeoutMs / 1000}s`;
  if (reason === 'cancelled') return 'Turn cancelled';
  const message = err instanceof Error ? err.message : String(err);
  return `Agent failed: ${message}`;
}
