import { WaitingError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { type ChatMessage, type FaultHook, noFault } from '@baton/core';
import type { Agent } from '@baton/agents';
import { TurnJob, type TurnQueue } from '@baton/queue';
import { type SessionStore, type TenantUsage, type TurnOutcome, messageBytes } from '@baton/store';
import type { ActiveTurns } from '../active-turns.ts';
import { DeltaWriter } from '../delta-writer.ts';

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
  /** TENANT_MAX_BYTES: counts a reply stored in the history against its session's tenant. */
  usage?: TenantUsage;
  /** Told of every turn this worker ran to an end (metrics). */
  onTurnEnd?: (turn: TurnEnd) => void;
  /** Reply deltas of streaming agents are written to the session's stream at most this often (ms; default 50). */
  deltaIntervalMs?: number;
}

/** How a turn this worker ran ended: `stale` when its result was discarded (taken over, deleted). */
export type TurnEndOutcome = 'completed' | 'failed' | 'timeout' | 'cancelled' | 'stale';
export interface TurnEnd {
  agent: string;
  outcome: TurnEndOutcome;
  /** From the claim to the recorded result. */
  durationMs: number;
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
    const started = performance.now();

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort('timeout' satisfies StopReason), deps.turnTimeoutMs);
    const release = deps.active.add(sessionId, turnId, controller);
    // Cancelled before any worker got to it: it ends without running the agent.
    if (claim.cancelled) controller.abort('cancelled' satisfies StopReason);
    // Streaming agents' reply deltas go to the session's stream (SSE), batched.
    const deltas = new DeltaWriter(
      async (text, offset) => (await deps.store.streams.appendDelta(sessionId, turnId, claim.fence, text, offset)) !== null,
      deps.deltaIntervalMs ?? 50,
      (err) => log.warn({ err: (err as Error).message }, 'writing a reply delta failed'),
    );
    let outcome: TurnOutcome;
    let endedAs: TurnEndOutcome = 'completed';
    try {
      controller.signal.throwIfAborted();
      const reply = await runAgent(deps.agentFor(claim.agent), {
        sessionId,
        turnId,
        messages: claim.history,
        signal: controller.signal,
        onDelta: (text) => deltas.push(text),
      });
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
      endedAs = reason === 'timeout' ? 'timeout' : reason === 'cancelled' ? 'cancelled' : 'failed';
    } finally {
      clearTimeout(timer);
      release();
      // Every delta is in the stream before the turn's message (or is dropped on shutdown).
      await deltas.close();
    }
    fault('worker.after-agent-reply');

    const finished = await deps.store.finish(sessionId, turnId, claim.fence, outcome);
    fault('worker.after-finish');
    if (finished.kind === 'ok' && !finished.cancelled && outcome.ok) await deps.usage?.add(sessionId, messageBytes(outcome.reply)).catch(() => undefined);
    // Its cancel was recorded before the result (the abort came too late, or was lost): the
    // turn ended as cancelled, whatever the agent answered.
    if (finished.kind === 'ok' && finished.cancelled) {
      endedAs = 'cancelled';
      log.info('turn cancelled: its cancel was recorded before its result');
    }
    deps.onTurnEnd?.({ agent: claim.agent, outcome: finished.kind === 'ok' ? endedAs : 'stale', durationMs: performance.now() - started });
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
