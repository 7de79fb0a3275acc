import { WaitingError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { type ChatMessage, type FaultHook, noFault } from '@baton/core';
import { type Agent, type InterruptRequest, type StepAgent, asStepAgent, maxStepsOf } from '@baton/agents';
import { TurnJob, type TurnQueue } from '@baton/queue';
import { type ClaimResult, type SessionStore, type TenantUsage, type TurnOutcome, messageBytes } from '@baton/store';
import type { ActiveTurns } from '../active-turns.ts';
import { DeltaWriter } from '../delta-writer.ts';

export interface TurnRunDeps {
  store: SessionStore;
  queue: TurnQueue;
  agentFor: (name: string) => Agent | StepAgent;
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
  /** The most steps a turn may take (`MAX_STEPS`; default 25); past it the turn ends with an error. */
  maxSteps?: number;
  /** INTERRUPT_TIMEOUT_S in ms: when set, the reaper checks a waiting turn after this long. */
  interruptTimeoutMs?: number;
}

/**
 * How a turn this worker ran ended: `stale` when its result was discarded (taken over, deleted);
 * `interrupted` when it stopped to wait for a person (it goes on in another job after the resume).
 */
export type TurnEndOutcome = 'completed' | 'failed' | 'timeout' | 'cancelled' | 'stale' | 'interrupted';
export interface TurnEnd {
  agent: string;
  outcome: TurnEndOutcome;
  /** From the claim to the recorded result. */
  durationMs: number;
}

/** Why a turn's agent was stopped before it answered. */
export type StopReason = 'cancelled' | 'shutdown' | 'timeout';

/**
 * `turn.run`: claim the session's running turn, run its agent step by step — each step's
 * messages recorded by one fenced script before the next starts, so a worker that takes the
 * turn over goes on after the last recorded step — then record the outcome (guarded by the
 * claim's fence) and start the next queued message. A step that stops for a person ends the
 * job: the turn waits in Redis (`interrupted`) and a resume queues a new job for it.
 */
export function makeTurnProcessor(deps: TurnRunDeps) {
  const fault = deps.fault ?? noFault;
  return async (job: Job, token?: string): Promise<string> => {
    const { session_id: sessionId, turn_id: turnId, run = 0 } = TurnJob.parse(job.data);
    const log = deps.logger.child({ sessionId, turnId });
    const claim = await deps.store.claim(sessionId, turnId, run);
    if (claim.kind !== 'ok') {
      log.debug({ claim: claim.kind }, 'turn is no longer running here; skipped');
      // A rerun after a crash between finishing and queueing the webhooks: queue them now.
      await flush(deps, sessionId, log);
      return claim.kind;
    }
    log.debug({ fence: claim.fence, attempt: job.attemptsMade, steps: claim.steps, run }, 'turn claimed');
    // Events of a waiting turn that a cancel ended (no worker held it) are still in the outbox.
    if (claim.outboxPending) void flush(deps, sessionId, log);
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
    let steps: StepsEnd;
    try {
      controller.signal.throwIfAborted();
      steps = await runSteps(deps, asStepAgent(deps.agentFor(claim.agent)), claim, {
        sessionId,
        turnId,
        signal: controller.signal,
        onDelta: (text) => deltas.push(text),
        fault,
      });
      if (steps.kind === 'reply') outcome = { ok: true, reply: steps.reply };
      else if (steps.kind === 'cancelled') {
        outcome = { ok: false, error: 'Turn cancelled', cancelled: true };
        endedAs = 'cancelled';
      } else {
        outcome = { ok: false, error: steps.kind === 'failed' ? steps.error : '' };
        endedAs = 'failed';
      }
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
      steps = { kind: 'failed', error: outcome.error };
    } finally {
      clearTimeout(timer);
      release();
      // Every delta is in the stream before the turn's message (or is dropped on shutdown).
      await deltas.close();
    }
    if (steps.kind === 'stale') {
      deps.onTurnEnd?.({ agent: claim.agent, outcome: 'stale', durationMs: performance.now() - started });
      log.warn('stale step discarded: the turn was taken over, finished or deleted meanwhile');
      await flush(deps, sessionId, log);
      return 'stale';
    }
    if (steps.kind === 'interrupted') {
      deps.onTurnEnd?.({ agent: claim.agent, outcome: 'interrupted', durationMs: performance.now() - started });
      log.debug({ interruptId: steps.interruptId }, 'turn waits for a person: interrupted');
      // The reaper ends a wait past INTERRUPT_TIMEOUT_S: schedule its check.
      if (deps.interruptTimeoutMs) await deps.store.running.mark(sessionId, Date.now() + deps.interruptTimeoutMs).catch(() => undefined);
      if (steps.notify) await flush(deps, sessionId, log);
      return 'interrupted';
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
    // No turn follows: the session leaves the reaper's index now, not at its check time.
    if (!finished.nextTurnId) await settle(deps, sessionId, log);
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

/** Only a saving: an entry left behind is dropped by the reaper at its check time. */
async function settle(deps: TurnRunDeps, sessionId: string, log: Logger): Promise<void> {
  try {
    await deps.store.running.settle(sessionId);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'leaving the running index failed; the reaper will drop the entry');
  }
}

/** How the steps of a turn ended (in this job). */
type StepsEnd =
  | { kind: 'reply'; reply: ChatMessage }
  | { kind: 'interrupted'; interruptId: string; notify: boolean }
  | { kind: 'cancelled' | 'stale' }
  | { kind: 'failed'; error: string };

/**
 * Calls the agent's `step` until it is done or stops for a person, recording each step's
 * messages (one fenced script each) before the next starts. A done step's last message is
 * the reply (recorded by `finish`); the messages before it are recorded as a step first.
 */
async function runSteps(
  deps: TurnRunDeps,
  agent: StepAgent,
  claim: Extract<ClaimResult, { kind: 'ok' }>,
  ctx: { sessionId: string; turnId: string; signal: AbortSignal; onDelta: (text: string) => void; fault: FaultHook },
): Promise<StepsEnd> {
  const maxSteps = maxStepsOf(agent, claim.config, deps.maxSteps ?? 25);
  const history = [...claim.history];
  let index = claim.steps;
  let resume = claim.resume;
  const record = async (messages: ChatMessage[], interrupt?: InterruptRequest) => {
    const recorded = await deps.store.steps.record({ sessionId: ctx.sessionId, turnId: ctx.turnId, fence: claim.fence, index, messages, ...(interrupt ? { interrupt } : {}) });
    if (recorded.kind === 'ok') {
      // TENANT_MAX_BYTES: a step's messages (tool calls, tool results) are history too.
      await deps.usage?.add(ctx.sessionId, messages.reduce((sum, m) => sum + messageBytes(m), 0)).catch(() => undefined);
      history.push(...messages);
      index++;
      resume = undefined;
    }
    return recorded;
  };
  for (;;) {
    if (index >= maxSteps) return { kind: 'failed', error: `Turn stopped: the agent took ${maxSteps} steps without a final reply (max_steps)` };
    ctx.signal.throwIfAborted();
    const result = await agent.step({
      sessionId: ctx.sessionId,
      turnId: ctx.turnId,
      messages: history,
      signal: ctx.signal,
      onDelta: ctx.onDelta,
      config: claim.config,
      ...(claim.userParams ? { userParams: claim.userParams } : {}),
      ...(resume ? { resume } : {}),
      stepIndex: index,
      turnStart: claim.turnStart,
    });
    ctx.signal.throwIfAborted();
    const messages = result.messages.map((m) => ({ ...m }));
    if (result.done && !result.interrupt) {
      const last = messages.pop();
      if (!last) return { kind: 'failed', error: 'Agent failed: its last step has no reply message' };
      if (messages.length > 0) {
        const recorded = await record(messages);
        if (recorded.kind !== 'ok') return { kind: recorded.kind === 'cancelled' ? 'cancelled' : 'stale' };
      }
      return { kind: 'reply', reply: { ...last, role: 'assistant' } };
    }
    const recorded = await record(messages, result.interrupt);
    if (recorded.kind !== 'ok') return { kind: recorded.kind === 'cancelled' ? 'cancelled' : 'stale' };
    ctx.fault('worker.after-step');
    if (recorded.interrupt) return { kind: 'interrupted', interruptId: recorded.interrupt.interrupt_id, notify: recorded.notify };
  }
}

function errorText(err: unknown, reason: StopReason | null, timeoutMs: number): string {
  if (reason === 'timeout') return `Turn timed out after ${timeoutMs / 1000}s`;
  if (reason === 'cancelled') return 'Turn cancelled';
  const message = err instanceof Error ? err.message : String(err);
  return `Agent failed: ${message}`;
}
