import {
  type ChatMessage,
  type CreateSessionRequest,
  type FaultHook,
  type MessageRequest,
  type SessionView,
  SessionBusyError,
  SessionExistsError,
  SessionLimitError,
  SessionNotFoundError,
  ValidationError,
  compactMessage,
  newSessionId,
  newTurnId,
  noFault,
} from '@baton/core';
import type { TurnQueue } from '@baton/queue';
import type { SessionStore } from './session-store.ts';

export interface SessionServiceDeps {
  store: SessionStore;
  queue: TurnQueue;
  defaultAgent: string;
  /** Agent name → null when it can run, else what to configure. */
  agents: Record<string, string | null>;
  maxSessions: number;
  fault?: FaultHook;
}

export interface Accepted {
  sessionId: string;
  turnId: string;
  /** True when the message waits in the inbox behind the running turn. */
  queued: boolean;
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

  async createSession(input: CreateSessionRequest & { sessionId?: string; tenant?: string }): Promise<SessionView> {
    const agent = input.agent ?? this.deps.defaultAgent;
    const missing = this.deps.agents[agent];
    if (missing) {
      throw new ValidationError([{ path: 'body.agent', message: `agent "${agent}" is not configured on this server: ${missing}` }]);
    }
    if (this.deps.maxSessions > 0 && (await this.deps.store.count()) >= this.deps.maxSessions) {
      throw new SessionLimitError(this.deps.maxSessions);
    }
    const sessionId = input.sessionId ?? newSessionId();
    const created = await this.deps.store.create({
      sessionId,
      agent,
      tenant: input.tenant ?? '',
      state: input.state.map(compactMessage),
    });
    if (!created) throw new SessionExistsError(sessionId);
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

  /**
   * Accepts a message. Once this resolves the turn is stored and will run, whatever
   * crashes next: the reaper re-enqueues a started turn whose job never arrived.
   */
  async sendMessage(sessionId: string, request: MessageRequest): Promise<Accepted> {
    const { webhook, if_busy, ...fields } = request;
    const turnId = newTurnId();
    const result = await this.deps.store.submit({
      sessionId,
      turnId,
      message: compactMessage(fields),
      webhook,
      policy: if_busy,
    });
    if (result.kind === 'not_found') throw new SessionNotFoundError(sessionId);
    if (result.kind === 'busy') throw new SessionBusyError();
    if (result.kind === 'queued') return { sessionId, turnId, queued: true };
    this.fault('api.after-state-write');
    await this.deps.queue.enqueue({ session_id: sessionId, turn_id: turnId });
    return { sessionId, turnId, queued: false };
  }

  async deleteSession(sessionId: string): Promise<void> {
    const deleted = await this.deps.store.delete(sessionId);
    if (!deleted) throw new SessionNotFoundError(sessionId);
  }
}
