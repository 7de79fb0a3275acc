import {
  type ChatMessage,
  type CreateSessionRequest,
  type FaultHook,
  type FieldIssue,
  type MessageRequest,
  type SessionView,
  SessionBusyError,
  SessionExistsError,
  SessionLimitError,
  SessionQuotaError,
  MessageLimitError,
  IdempotencyKeyReusedError,
  SessionNotFoundError,
  SessionPausedError,
  SessionArchivedError,
  ValidationError,
  type WebhookSpec,
  type BusyPolicy,
  EchoParams,
  InterruptNotFoundError,
  SessionNotInterruptedError,
  compactMessage,
  newSessionId,
  newTurnId,
  noFault,
} from '@baton/core';
import type { TurnQueue } from '@baton/queue';
import { type RequestKey, type SessionStore, type SubmitResult, type TimelineEntry, newIncarnation } from './session-store.ts';
import type { TimelinePage } from './timeline-page.ts';
import type { TimelineCounts, TimelineWalk, WalkMark, WalkOrder } from './timeline-walk.ts';
import { isRedisFull } from './connections.ts';
import type { ReplicaWait } from './replica-wait.ts';
import { TenantSessions } from './tenant-sessions.ts';
import { type TenantUsage, messageBytes } from './tenant-usage.ts';

export interface SessionServiceDeps {
  store: SessionStore;
  queue: TurnQueue;
  defaultAgent: string;
  /** Every agent a session may name → null when it can run, else what to configure. */
  agents: Record<string, string | null>;
  /**
   * Checks a session's `config` against what its agent accepts: the config to store, or the
   * problems, each naming its field (`body.config.temperature`). Unset: any object is kept.
   */
  checkConfig?: (agent: string, config: Record<string, unknown>) => { ok: true; config: Record<string, unknown> } | { ok: false; issues: FieldIssue[] };
  maxSessions: number;
  /** `TENANT_MAX_SESSIONS`: sessions one API key may hold (0: no quota; the admin key and auth off have none). */
  tenantMaxSessions?: number;
  /** `TENANT_MAX_BYTES`: counts the messages a tenant's sessions hold and refuses writes past it. */
  usage?: TenantUsage;
  /** Refuses (throws a 422) a webhook URL Baton must not send to; `path` names the field. */
  checkWebhookUrl?: (url: string, path: string) => Promise<void>;
  fault?: FaultHook;
  /** `REDIS_WAIT_REPLICAS`: accepted turns and new sessions are answered only once replicated. */
  replicas?: ReplicaWait;
}

export interface Accepted {
  sessionId: string;
  turnId: string;
  /** True when the message waits in the inbox behind the running turn. */
  queued: boolean;
  /** `if_busy: "interrupt"`: the running turn it cancelled. */
  cancelledTurnId?: string;
}

/**
 * What every API surface does to sessions. Surfaces translate their own request
 * shapes into these calls; there is one store and one turn queue behind all of them.
 */
export class SessionService {
  private readonly fault: FaultHook;

  constructor(private readonly deps: SessionServiceDeps) {
    this.fault = deps.fault ?? noFault;
  }

  /**
   * `request`: the request's Idempotency-Key (when no `sessionId` is given). The new id is
   * recorded under it first, so a retry after a lost answer gets the session made then.
   */
  async createSession(
    input: CreateSessionRequest & { sessionId?: string; tenant?: string; attributes?: Record<string, string>; request?: RequestKey },
  ): Promise<SessionView> {
    const agent = input.agent ?? this.deps.defaultAgent;
    if (!Object.hasOwn(this.deps.agents, agent)) {
      const known = Object.keys(this.deps.agents).join(', ');
      throw new ValidationError([{ path: 'body.agent', message: `unknown agent ${JSON.stringify(agent)}; the agents are ${known}` }]);
    }
    const missing = this.deps.agents[agent];
    if (missing) {
      throw new ValidationError([{ path: 'body.agent', message: `agent "${agent}" is not configured on this server: ${missing}` }]);
    }
    let config = input.config ?? {};
    if (this.deps.checkConfig) {
      const checked = this.deps.checkConfig(agent, config);
      if (!checked.ok) throw new ValidationError(checked.issues);
      config = checked.config;
    }
    if (input.webhook) await this.deps.checkWebhookUrl?.(input.webhook.url, 'body.webhook.url');
    const tenant = input.tenant ?? '';
    let sessionId = input.sessionId ?? newSessionId();
    let incarnation = newIncarnation();
    /** This call's own id and incarnation: only a record holding them is this call's to take back. */
    const proposed = { sessionId, incarnation };
    if (input.request && input.sessionId === undefined) {
      const recorded = await this.deps.store.sessionIdFor(tenant, input.request, { sessionId, incarnation });
      if (recorded === null) throw new IdempotencyKeyReusedError();
      ({ sessionId, incarnation } = recorded);
      // A session already there is this request's own, made by a try whose answer was lost,
      // only if it is that try's incarnation: the id may have been deleted and made again since.
      const existing = await this.deps.store.get(sessionId);
      if (existing?.tenant === tenant && (await this.deps.store.incarnation(sessionId)) === incarnation) return existing;
    }
    if (this.deps.maxSessions > 0 && (await this.deps.store.count()) >= this.deps.maxSessions) {
      throw new SessionLimitError(this.deps.maxSessions);
    }
    const quota = this.deps.tenantMaxSessions ?? 0;
    // Read before the write, like MAX_SESSIONS: requests racing at the edge may pass it by a few.
    if (tenant && quota > 0 && (await this.deps.store.count(tenant)) >= quota) throw new SessionQuotaError(quota);
    await this.deps.usage?.check(tenant);
    const state = input.state.map(compactMessage);
    const created = await this.deps.store
      .create({
        sessionId,
        agent,
        tenant,
        state,
        webhook: input.webhook ?? null,
        attributes: input.attributes ?? {},
        incarnation,
        config,
      })
      .catch(async (err: unknown) => {
        // Redis is full: the id recorded under the Idempotency-Key goes too, so nothing is left.
        if (input.request && isRedisFull(err)) await this.deps.store.forgetSessionId(tenant, input.request, proposed).catch(() => undefined);
        throw err;
      });
    if (!created) throw new SessionExistsError(sessionId);
    await this.deps.usage?.add(sessionId, state.reduce((sum, m) => sum + messageBytes(m), 0));
    this.fault('api.after-create');
    await this.deps.replicas?.confirm(sessionId);
    return (await this.deps.store.get(sessionId)) as SessionView;
  }

  async getSession(sessionId: string): Promise<SessionView> {
    const view = await this.deps.store.get(sessionId);
    if (!view) throw new SessionNotFoundError(sessionId);
    return view;
  }

  async messages(sessionId: string): Promise<ChatMessage[]> {
    const messages = await this.deps.store.messages(sessionId);
    if (!messages) throw new SessionNotFoundError(sessionId);
    return messages;
  }

  /** One page of the history (`limit` messages from position `from`) and the history's length. */
  async messagesPage(sessionId: string, from: number, limit: number): Promise<{ items: ChatMessage[]; total: number }> {
    const page = await this.deps.store.messagesPage(sessionId, from, limit);
    if (!page) throw new SessionNotFoundError(sessionId);
    return page;
  }

  /**
   * Accepts a message. Once this resolves the turn is stored and will run, whatever
   * crashes next: the reaper re-enqueues a started turn whose job never arrived.
   * `options.request`: the request's Idempotency-Key; a retry under it gets the turn it started.
   */
  async sendMessage(sessionId: string, request: MessageRequest, options: { clientId?: string; tenant?: string; request?: RequestKey } = {}): Promise<Accepted> {
    const { webhook, if_busy, ...fields } = request;
    checkEchoParams(fields.user_params);
    if (webhook) await this.deps.checkWebhookUrl?.(webhook.url, 'body.webhook.url');
    return this.startTurn(sessionId, { message: compactMessage(fields), webhook, policy: if_busy, ...options });
  }

  /** Starts a turn on the history as it is, without a new message (OpenHands `run`). */
  async run(sessionId: string, policy: BusyPolicy = 'reject', tenant?: string): Promise<Accepted> {
    return this.startTurn(sessionId, { message: null, webhook: null, policy, tenant });
  }

  /** The sessions as one tenant (API key) sees them: others' are not found. */
  scope(tenant: string): TenantSessions {
    return new TenantSessions(this, this.deps.store, tenant);
  }

  /** Adds a message to the history without starting a turn (OpenHands `run: false`). */
  async appendMessage(sessionId: string, message: ChatMessage, options: { clientId?: string; tenant?: string } = {}): Promise<void> {
    await this.deps.usage?.check(options.tenant ?? (await this.deps.store.tenantOf(sessionId)) ?? '');
    const compact = compactMessage(message);
    const result = await this.deps.store.append(sessionId, compact, options.clientId);
    if (result === 'not_found') throw new SessionNotFoundError(sessionId);
    if (result === 'archived') throw new SessionArchivedError();
    if (result === 'full') throw new MessageLimitError();
    await this.deps.usage?.add(sessionId, messageBytes(compact));
  }

  /** No turn starts while paused; the running one finishes. */
  async pause(sessionId: string): Promise<SessionView> {
    if ((await this.deps.store.pause(sessionId)) === 'not_found') throw new SessionNotFoundError(sessionId);
    return this.getSession(sessionId);
  }

  /** Lifts a pause and starts the first queued message, if any. */
  async resume(sessionId: string): Promise<SessionView> {
    const result = await this.deps.store.resume(sessionId);
    if (result.kind !== 'ok') throw result.kind === 'archived' ? new SessionArchivedError() : new SessionNotFoundError(sessionId);
    // Queuing a turn whose job exists does nothing; one started by a resent resume gets its job.
    if (result.runningTurnId) await this.deps.queue.enqueue({ session_id: sessionId, turn_id: result.runningTurnId });
    return this.getSession(sessionId);
  }

  /**
   * Cancels the running turn, if any: it ends with `Turn cancelled` (and a `turn.cancelled`
   * webhook). A turn waiting for a person ends at once; the queued message it starts gets its job.
   */
  async cancel(sessionId: string): Promise<{ cancelled: string | null }> {
    const result = await this.deps.store.cancel(sessionId);
    if (result.kind === 'not_found') throw new SessionNotFoundError(sessionId);
    if (result.kind === 'ended' && result.startedTurnId) await this.enqueue(sessionId, result.startedTurnId);
    return { cancelled: result.kind === 'cancelling' || result.kind === 'ended' ? result.turnId : null };
  }

  /** Makes the session read-only for good, cancelling its running turn. */
  async archive(sessionId: string): Promise<void> {
    const result = await this.deps.store.cancel(sessionId, 'archive');
    if (result.kind === 'not_found') throw new SessionNotFoundError(sessionId);
  }

  /**
   * Answers the interrupt a turn waits on (`POST /sessions/{id}/resume`): the value is stored
   * with it and the turn is queued again, for any worker. `tenant`: others' sessions are not found.
   */
  async resumeInterrupt(sessionId: string, interruptId: string, value: unknown, tenant = ''): Promise<{ status: 'running' }> {
    const result = await this.deps.store.steps.resume(sessionId, interruptId, value, tenant);
    if (result.kind === 'not_interrupted') throw new SessionNotInterruptedError(result.status);
    if (result.kind === 'interrupt_not_found') throw new InterruptNotFoundError(interruptId);
    if (result.kind !== 'ok') throw new SessionNotFoundError(sessionId);
    // Strict mode: the resume is on the replicas before the answer.
    await this.deps.replicas?.confirm(sessionId);
    // Stored: if this enqueue fails the reaper queues the job (its entry was written first).
    await this.deps.queue.enqueue({ session_id: sessionId, turn_id: result.turnId, run: result.run }).catch(() => undefined);
    return { status: 'running' };
  }

  private async enqueue(sessionId: string, turnId: string): Promise<void> {
    await this.deps.queue.enqueue({ session_id: sessionId, turn_id: turnId }).catch(() => undefined);
  }

  async timeline(sessionId: string): Promise<TimelineEntry[]> {
    const entries = await this.deps.store.timeline(sessionId);
    if (!entries) throw new SessionNotFoundError(sessionId);
    return entries;
  }

  /** The timeline in time order, by range reads; `unindexed` for a session made before the time index (read it whole). */
  async timelineWalk(sessionId: string, order: WalkOrder, options: { from?: WalkMark; window?: number } = {}): Promise<TimelineWalk | 'unindexed'> {
    const walk = await this.deps.store.timelineWalk(sessionId, order, options);
    if (!walk) throw new SessionNotFoundError(sessionId);
    return walk;
  }

  /** The timeline's size from its time index; `unindexed` as for `timelineWalk`. */
  async timelineCounts(sessionId: string): Promise<TimelineCounts | 'unindexed'> {
    const counts = await this.deps.store.timelineCounts(sessionId);
    if (!counts) throw new SessionNotFoundError(sessionId);
    return counts;
  }

  /** One page of the timeline (`limit` entries from position `from`), by range reads. */
  async timelinePage(sessionId: string, from: number, limit: number, lookahead = 0): Promise<TimelinePage> {
    const page = await this.deps.store.timelinePage(sessionId, from, limit, lookahead);
    if (!page) throw new SessionNotFoundError(sessionId);
    return page;
  }

  /**
   * Accepts a turn. Once this resolves the turn is stored and will run, whatever
   * crashes next: the reaper re-enqueues a started turn whose job never arrived.
   */
  private async startTurn(
    sessionId: string,
    input: { message: ChatMessage | null; webhook: WebhookSpec | null; policy: BusyPolicy; clientId?: string; tenant?: string; request?: RequestKey },
  ): Promise<Accepted> {
    if (this.deps.usage?.enabled) await this.deps.usage.check(input.tenant ?? (await this.deps.store.tenantOf(sessionId)) ?? '');
    const result: SubmitResult = await this.deps.store.submit({ sessionId, turnId: newTurnId(), ...input });
    // Counted once accepted (an inbox message is counted now: it is stored with the session).
    if (input.message && (result.kind === 'started' || result.kind === 'queued' || result.kind === 'interrupting')) {
      await this.deps.usage?.add(sessionId, messageBytes(input.message));
    }
    // The turn id is the new one, or the one a retry under the same Idempotency-Key started.
    switch (result.kind) {
      case 'not_found':
        throw new SessionNotFoundError(sessionId);
      case 'busy':
        throw new SessionBusyError(result.status);
      case 'paused':
        throw new SessionPausedError();
      case 'archived':
        throw new SessionArchivedError();
      case 'full':
        throw new MessageLimitError();
      case 'reused':
        throw new IdempotencyKeyReusedError();
      case 'queued':
        await this.deps.replicas?.confirm(sessionId);
        return { sessionId, turnId: result.turnId, queued: true };
      case 'interrupting':
        await this.deps.replicas?.confirm(sessionId);
        // A turn that waited for a person ended in the script, which started the first queued turn.
        if (result.startedTurnId) await this.enqueue(sessionId, result.startedTurnId);
        return { sessionId, turnId: result.turnId, queued: result.startedTurnId !== result.turnId, cancelledTurnId: result.cancelledTurnId };
    }
    const { turnId } = result;
    this.fault('api.after-state-write');
    // The turn is stored, its running-index entry first: if the enqueue fails (Redis went
    // away a moment ago), the reaper enqueues it once Redis answers. It is accepted either way.
    await this.deps.queue.enqueue({ session_id: sessionId, turn_id: turnId }).catch(() => undefined);
    // Strict mode: the turn (and on one server its job) is on the replicas before the 202.
    await this.deps.replicas?.confirm(sessionId);
    return { sessionId, turnId, queued: false };
  }

  async deleteSession(sessionId: string): Promise<void> {
    const counted = this.deps.usage?.enabled ? await this.deps.usage.ofSession(sessionId) : null;
    const deleted = await this.deps.store.delete(sessionId);
    if (!deleted) throw new SessionNotFoundError(sessionId);
    if (counted) await this.deps.usage?.forget(counted);
  }
}

/** `user_params.echo` is the echo agent's test contract: checked on every message that carries it. */
function checkEchoParams(userParams: Record<string, unknown> | null | undefined): void {
  if (userParams?.echo === undefined) return;
  const parsed = EchoParams.safeParse(userParams.echo);
  if (parsed.success) return;
  throw new ValidationError(
    parsed.error.issues.map((issue) => ({ path: ['body', 'user_params', 'echo', ...issue.path].join('.'), message: issue.message })),
  );
}
