import { Router, type Request, type Response } from 'express';
import {
  type CancelAccepted,
  CreateSessionRequest,
  LIST_ALL_MAX,
  ListQuery,
  MessagesQuery,
  type MessageAccepted,
  MessageRequest,
  ResumeRequest,
  type ResumeAccepted,
  SessionNotFoundError,
  type SessionListItem,
  type SessionResponse,
  type SessionView,
  WaitQuery,
  isUuid,
  AppError,
  ValidationError,
} from '@baton/core';
import type { SessionService, SessionStore, SessionWatcher, TenantSessions } from '@baton/store';
import { tenantOf } from '../http/auth.ts';
import { allow } from '../http/errors.ts';
import { parse } from '../http/validate.ts';
import { RequestSignals } from '../http/request-signals.ts';
import { type WaiterSlots, waitWhileRunning } from '../long-poll.ts';

export interface SessionRoutesDeps {
  service: SessionService;
  store: SessionStore;
  watcher: SessionWatcher;
  longPoll: { defaultS: number; maxS: number };
  pageLimitMax: number;
  /** Aborted when the process shuts down: long-polls answer at once. */
  shutdown: AbortSignal;
  /** Long-poll slots of this process (`MAX_WAITERS`). */
  waiters?: WaiterSlots;
}

/**
 * The bodies below are typed by the response schemas in `@baton/core` (`responses.ts`), which
 * the OpenAPI document (`GET /openapi.json`) is built from; the query schemas are in `queries.ts`.
 */

/** Motus SessionResponse, plus Baton's extra fields (clients ignore what they don't know). */
export function sessionResponse(view: SessionView): SessionResponse {
  return {
    session_id: view.session_id,
    status: view.status,
    response: view.response,
    error: view.error,
    agent: view.agent,
    total_messages: view.total_messages,
    pending_messages: view.pending_messages,
    ...(view.status === 'interrupted' ? { interrupts: view.interrupts } : {}),
    created_at: view.created_at,
    updated_at: view.updated_at,
  };
}

/** The native API (Motus serve API shapes), at the root. */
export function sessionRoutes(deps: SessionRoutesDeps): Router {
  // The caller's sessions: another API key's are not found.
  const sessions = (res: Response) => deps.service.scope(tenantOf(res));
  const signals = new RequestSignals(deps.shutdown);
  const router = Router();

  const createBody = (req: Request) => parse(CreateSessionRequest, req.body ?? {}, 'body');

  router
    .route('/sessions')
    .post(async (req, res) => {
      const view = await sessions(res).createSession({ ...createBody(req), request: res.locals.requestKey });
      res.status(201).location(`/sessions/${view.session_id}`).json(sessionResponse(view));
    })
    .get(async (req, res) => {
      const query = parse(ListQuery(deps.pageLimitMax), req.query, 'query');
      const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      const limit = query.limit ?? Math.min(50, deps.pageLimitMax);
      // Neither: every session (as Motus, whose clients read no cursor), up to LIST_ALL_MAX.
      const page =
        query.limit === undefined && cursor === undefined
          ? await listAll(sessions(res), deps.pageLimitMax, query.order)
          : await sessions(res).list(limit, cursor, query.order);
      if (page.nextCursor) {
        const next = encodeCursor(page.nextCursor);
        const order = query.order === 'newest' ? '&order=newest' : '';
        res.set('x-next-cursor', next).set('link', `</sessions?limit=${limit}${order}&cursor=${next}>; rel="next"`);
      }
      res.json(
        page.items.map(
          (v): SessionListItem => ({
            session_id: v.session_id,
            total_messages: v.total_messages,
            status: v.status,
            agent: v.agent,
            created_at: v.created_at,
            updated_at: v.updated_at,
          }),
        ),
      );
    })
    .all(allow('GET', 'POST'));

  router
    .route('/sessions/:id')
    .get(async (req, res) => {
      const id = sessionId(req);
      const query = parse(WaitQuery, req.query, 'query');
      const wait = query.wait === 'true' || query.wait === '1';
      if (!wait) return void res.json(sessionResponse(await sessions(res).getSession(id)));
      const seconds = Math.min(query.timeout ?? deps.longPoll.defaultS, deps.longPoll.maxS);
      await sessions(res).own(id);
      const view = await waitWhileRunning(deps, id, seconds * 1000, signals.for(req, res));
      res.json(sessionResponse(view));
    })
    .put(async (req, res) => {
      const id = String(req.params.id);
      if (!isUuid(id)) throw new AppError(400, 'invalid_session_id', `Session id must be a UUID, got ${JSON.stringify(id)}`);
      const view = await sessions(res).createSession({ ...createBody(req), sessionId: id.toLowerCase() });
      res.status(201).location(`/sessions/${view.session_id}`).json(sessionResponse(view));
    })
    .delete(async (req, res) => {
      await sessions(res).deleteSession(sessionId(req));
      res.status(204).end();
    })
    .all(allow('GET', 'PUT', 'DELETE'));

  router
    .route('/sessions/:id/messages')
    .get(async (req, res) => {
      const id = sessionId(req);
      const query = parse(MessagesQuery(deps.pageLimitMax), req.query, 'query');
      if (query.limit === undefined && query.cursor === undefined) return void res.json(await sessions(res).messages(id));
      const limit = query.limit ?? Math.min(50, deps.pageLimitMax);
      const from = query.cursor === undefined ? 0 : decodeMessageCursor(query.cursor);
      const page = await sessions(res).messagesPage(id, from, limit);
      const end = from + page.items.length;
      if (end < page.total) {
        const next = Buffer.from(`m:${end}`).toString('base64url');
        res.set('x-next-cursor', next).set('link', `</sessions/${id}/messages?limit=${limit}&cursor=${next}>; rel="next"`);
      }
      res.json(page.items);
    })
    .post(async (req, res) => {
      const id = sessionId(req);
      const body = parse(MessageRequest, req.body ?? {}, 'body');
      const accepted = await sessions(res).sendMessage(id, body, { request: res.locals.requestKey });
      const reply: MessageAccepted = { session_id: id, status: 'running', turn_id: accepted.turnId, queued: accepted.queued };
      if (accepted.cancelledTurnId) reply.cancelled_turn_id = accepted.cancelledTurnId;
      res.status(202).location(`/sessions/${id}`).json(reply);
    })
    .all(allow('GET', 'POST'));

  router
    .route('/sessions/:id/resume')
    .post(async (req, res) => {
      const id = sessionId(req);
      const body = parse(ResumeRequest, req.body ?? {}, 'body');
      const { status } = await sessions(res).resumeInterrupt(id, body.interrupt_id, body.value);
      res.status(200).json({ session_id: id, status } satisfies ResumeAccepted);
    })
    .all(allow('POST'));

  router
    .route('/sessions/:id/cancel')
    .post(async (req, res) => {
      const id = sessionId(req);
      const { cancelled } = await sessions(res).cancel(id);
      // 202: the worker running the turn is told to abort it; the turn then ends as cancelled.
      res.status(202).location(`/sessions/${id}`).json({ session_id: id, cancelled_turn_id: cancelled } satisfies CancelAccepted);
    })
    .all(allow('POST'));

  return router;
}

/** Every session, page by page, up to LIST_ALL_MAX; `nextCursor` when there are more. */
async function listAll(
  sessions: TenantSessions,
  pageSize: number,
  order: 'oldest' | 'newest',
): Promise<{ items: SessionView[]; nextCursor: string | null }> {
  const items: SessionView[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await sessions.list(Math.min(pageSize, LIST_ALL_MAX - items.length), cursor, order);
    items.push(...page.items);
    if (!page.nextCursor) return { items, nextCursor: null };
    if (items.length >= LIST_ALL_MAX) return { items, nextCursor: page.nextCursor };
    cursor = page.nextCursor;
  }
}

/** Session ids are UUIDs; anything else cannot name a session. */
export function sessionId(req: Request): string {
  const id = String(req.params.id);
  if (!isUuid(id)) throw new SessionNotFoundError(id);
  return id.toLowerCase();
}

function encodeCursor(member: string): string {
  return Buffer.from(member).toString('base64url');
}

/** A messages cursor is the next page's first position. */
function decodeMessageCursor(cursor: string): number {
  const match = /^m:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new ValidationError([{ path: 'query.cursor', message: 'not a cursor from this API' }]);
  return Number(match[1]);
}

function decodeCursor(cursor: string): string {
  const member = Buffer.from(cursor, 'base64url').toString();
  if (!/^\d{13}:[0-9a-f-]{36}$/.test(member)) {
    throw new ValidationError([{ path: 'query.cursor', message: 'not a cursor from this API' }]);
  }
  return member;
}
