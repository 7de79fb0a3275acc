import {
  type BusyPolicy,
  type ChatMessage,
  type CreateSessionRequest,
  type MessageRequest,
  type SessionView,
  SessionArchivedError,
  SessionNotFoundError,
} from '@baton/core';
import type { SessionService } from './session-service.ts';
import type { RequestKey, SessionStore, TimelineEntry } from './session-store.ts';
import type { TimelinePage } from './timeline-page.ts';
import type { TimelineCounts, TimelineWalk, WalkMark, WalkOrder } from './timeline-walk.ts';
import type { WalkMarks } from './walk-marks.ts';

/**
 * One tenant's sessions. Each API key is a tenant; a session another tenant owns is
 * answered exactly as a missing one (404, never 403), so ids leak nothing. With auth off
 * the tenant is '' and every session is visible.
 *
 * Submitting checks the owner inside the submit script; the other calls read the owner
 * first (a session's tenant never changes once created).
 */
export class TenantSessions {
  constructor(
    private readonly service: SessionService,
    private readonly store: SessionStore,
    readonly tenant: string,
  ) {}

  /** True when this tenant may see the session. */
  sees(view: SessionView): boolean {
    return this.tenant === '' || view.tenant === this.tenant;
  }

  /** The session, or null when it is missing or another tenant's. */
  async get(sessionId: string): Promise<SessionView | null> {
    const view = await this.store.get(sessionId);
    return view && this.sees(view) ? view : null;
  }

  async getSession(sessionId: string): Promise<SessionView> {
    const view = await this.get(sessionId);
    if (!view) throw new SessionNotFoundError(sessionId);
    return view;
  }

  /** Throws 404 unless the session exists and is this tenant's. */
  async own(sessionId: string): Promise<void> {
    if (this.tenant === '') return;
    if ((await this.store.tenantOf(sessionId)) !== this.tenant) throw new SessionNotFoundError(sessionId);
  }

  createSession(input: CreateSessionRequest & { sessionId?: string; attributes?: Record<string, string>; request?: RequestKey }): Promise<SessionView> {
    return this.service.createSession({ ...input, tenant: this.tenant });
  }

  list(limit: number, cursor?: string, order: 'oldest' | 'newest' = 'oldest') {
    return this.store.list(limit, cursor, this.tenant, order);
  }

  count(): Promise<number> {
    return this.store.count(this.tenant);
  }

  sendMessage(sessionId: string, request: MessageRequest, options: { clientId?: string; request?: RequestKey } = {}) {
    return this.service.sendMessage(sessionId, request, { ...options, tenant: this.tenant });
  }

  run(sessionId: string, policy: BusyPolicy = 'reject') {
    return this.service.run(sessionId, policy, this.tenant);
  }

  async messages(sessionId: string): Promise<ChatMessage[]> {
    await this.own(sessionId);
    return this.service.messages(sessionId);
  }

  async messagesPage(sessionId: string, from: number, limit: number): Promise<{ items: ChatMessage[]; total: number }> {
    await this.own(sessionId);
    return this.service.messagesPage(sessionId, from, limit);
  }

  async appendMessage(sessionId: string, message: ChatMessage, options: { clientId?: string } = {}): Promise<void> {
    await this.own(sessionId);
    return this.service.appendMessage(sessionId, message, { ...options, tenant: this.tenant });
  }

  /** Sets or clears (null) surface attributes such as an OpenHands title. */
  async setAttributes(sessionId: string, attributes: Record<string, string | null>): Promise<void> {
    const outcome = await this.store.setAttributes(sessionId, attributes, this.tenant);
    if (outcome === 'not_found') throw new SessionNotFoundError(sessionId);
    if (outcome === 'archived') throw new SessionArchivedError();
  }

  async pause(sessionId: string): Promise<SessionView> {
    await this.own(sessionId);
    return this.service.pause(sessionId);
  }

  async resume(sessionId: string): Promise<SessionView> {
    await this.own(sessionId);
    return this.service.resume(sessionId);
  }

  async cancel(sessionId: string): Promise<{ cancelled: string | null }> {
    await this.own(sessionId);
    return this.service.cancel(sessionId);
  }

  resumeInterrupt(sessionId: string, interruptId: string, value: unknown): Promise<{ status: 'running' }> {
    // The owner is checked inside the resume script.
    return this.service.resumeInterrupt(sessionId, interruptId, value, this.tenant);
  }

  async archive(sessionId: string): Promise<void> {
    await this.own(sessionId);
    return this.service.archive(sessionId);
  }

  async timeline(sessionId: string): Promise<TimelineEntry[]> {
    await this.own(sessionId);
    return this.service.timeline(sessionId);
  }

  async timelineWalk(sessionId: string, order: WalkOrder, options: { from?: WalkMark; window?: number } = {}): Promise<TimelineWalk | 'unindexed'> {
    await this.own(sessionId);
    return this.service.timelineWalk(sessionId, order, options);
  }

  async timelineCounts(sessionId: string): Promise<TimelineCounts | 'unindexed'> {
    await this.own(sessionId);
    return this.service.timelineCounts(sessionId);
  }

  /** Walk marks, by the ids clients page with; read and written after a call that checked the session's owner. */
  get marks(): WalkMarks {
    return this.store.marks;
  }

  async timelinePage(sessionId: string, from: number, limit: number, lookahead = 0): Promise<TimelinePage> {
    await this.own(sessionId);
    return this.service.timelinePage(sessionId, from, limit, lookahead);
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.own(sessionId);
    return this.service.deleteSession(sessionId);
  }
}
