import { Router, type Response } from 'express';
import { z } from 'zod';
import type { TenantSessions, TimelineEntry } from '@baton/store';
import type { AppDeps } from '../../app.ts';
import { tenantOf } from '../../http/auth.ts';
import { allow } from '../../http/errors.ts';
import { sessionId } from '../../routes/sessions.ts';
import { answerQuestion, askEvents } from './ask-user.ts';
import { ATTR, type AgenhqEvent, toEvent, toEvents, toSession } from './shapes.ts';
import { FastifyValidationError, validate } from './validate.ts';

/**
 * agenhq (docs.agenhq.com), mounted at `/api/v1/sessions` with the `x-api-key` header.
 * Unknown body and query fields are ignored, as Fastify does by default.
 */
const CreateBody = z.object({
  /** Required (nullable) in the agenhq docs; optional here, `null` when left out. */
  branch_name: z.string().max(256).nullable().optional(),
  auto_commit: z.boolean().optional(),
  model: z.string().min(1).max(256).optional(),
  /** Baton extension: agenhq generates a title from the first prompt; Baton takes it here. */
  title: z.string().max(256).optional(),
});

const MessageBody = z.object({
  message: z.string().min(1),
  client_id: z.string().max(256).nullish(),
});

const ListQuery = (max: number) =>
  z.object({
    limit: z.coerce.number().int().min(1).max(max).default(Math.min(20, max)),
    cursor: z.string().max(200).optional(),
    status: z.string().optional(),
    user_id: z.string().optional(),
  });

/** The last `n` entries of a session's timeline. */
async function timelineTail(scoped: TenantSessions, id: string, n: number): Promise<TimelineEntry[]> {
  const { total } = await scoped.timelinePage(id, 0, 0);
  return (await scoped.timelinePage(id, Math.max(0, total - n), n)).entries;
}

/** `GET /:id/events`: without `limit` or `cursor`, the whole timeline as a list (as agenhq). */
const EventsQuery = (max: number) =>
  z.object({
    limit: z.coerce.number().int().min(1).max(max).optional(),
    cursor: z.string().max(200).optional(),
  });

/** Entries read past a page for its user messages' reply times (a turn's reply is seldom further). */
const REPLY_LOOKAHEAD = 50;

export function agenhqRoutes(deps: AppDeps): Router {
  // The caller's sessions: another API key's are not found.
  const sessions = (res: Response) => deps.service.scope(tenantOf(res));
  const router = Router();

  router
    .route('/')
    .post(async (req, res) => {
      const body = validate(CreateBody, req.body ?? {}, 'body');
      const attributes: Record<string, string> = { [ATTR.autoCommit]: String(body.auto_commit ?? false) };
      if (body.title !== undefined) attributes[ATTR.title] = body.title;
      if (body.branch_name != null) attributes[ATTR.branch] = body.branch_name;
      if (body.model !== undefined) attributes[ATTR.model] = body.model;
      const view = await sessions(res).createSession({ state: [], attributes });
      res.json(toSession(view));
    })
    .get(async (req, res) => {
      const query = validate(ListQuery(deps.pageLimitMax), req.query, 'querystring');
      const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      const page = await sessions(res).list(query.limit, cursor);
      const items = page.items
        .map(toSession)
        .filter((s) => (query.status === undefined || s.status === query.status) && (query.user_id === undefined || s.user_id === query.user_id));
      res.json({ items, next_cursor: page.nextCursor ? encodeCursor(page.nextCursor) : null });
    })
    .all(allow('GET', 'POST'));

  router
    .route('/:id')
    .get(async (req, res) => {
      res.json(toSession(await sessions(res).getSession(sessionId(req))));
    })
    .all(allow('GET'));

  router
    .route('/:id/events')
    .get(async (req, res) => {
      const id = sessionId(req);
      const query = validate(EventsQuery(deps.pageLimitMax), req.query, 'querystring');
      if (query.limit === undefined && query.cursor === undefined) {
        // The whole timeline, as agenhq answers it (read in bounded chunks).
        const [view, entries] = await Promise.all([sessions(res).getSession(id), sessions(res).timeline(id)]);
        // Messages always carry metadata; should one not, it is dated with the session.
        const events = toEvents(id, entries, view.created_at);
        // The agent's questions and their answers, in time order among the messages (stable).
        const asks = askEvents(view);
        return void res.json(
          asks.length ? [...events, ...asks].map((e, i) => ({ e, i })).sort((a, b) => a.e.created_at.localeCompare(b.e.created_at) || a.i - b.i).map(({ e }) => e) : events,
        );
      }
      // Messages always carry metadata; should one not, it is dated with the session.
      const fallback = async (entries: TimelineEntry[]) =>
        entries.every((e) => e.meta) ? new Date(0).toISOString() : (await sessions(res).getSession(id)).created_at;
      // Baton extension: one page by range reads, `{items, next_cursor}` as the session list.
      const limit = query.limit ?? Math.min(20, deps.pageLimitMax);
      const from = query.cursor === undefined ? 0 : decodeEventCursor(query.cursor);
      const page = await sessions(res).timelinePage(id, from, limit, REPLY_LOOKAHEAD);
      const next = from + limit < page.total ? Buffer.from(`e:${from + limit}`).toString('base64url') : null;
      res.json({ items: toEvents(id, page.entries, await fallback(page.entries), page.after), next_cursor: next });
    })
    .all(allow('GET'));

  router
    .route('/:id/messages')
    .post(async (req, res) => {
      const id = sessionId(req);
      const body = validate(MessageBody, req.body ?? {}, 'body');
      const clientId = body.client_id ?? undefined;
      // A question waiting for the user: this message is the answer, and the turn goes on.
      const view = await sessions(res).getSession(id);
      const answered = await answerQuestion(sessions(res), view, body.message, clientId ?? null);
      if (answered) return void res.json(answered);
      // The message is stored either way: it starts a turn now, or waits for the running one.
      const accepted = await sessions(res).sendMessage(
        id,
        { role: 'user', content: body.message, webhook: null, if_busy: 'enqueue' },
        { ...(clientId === undefined ? {} : { clientId }), request: res.locals.requestKey },
      );
      res.json(await storedEvent(sessions(res), id, accepted.turnId, accepted.queued, body.message, clientId ?? null));
    })
    .all(allow('POST'));

  /** The event as stored, dated as the timeline dates it; its status is the one it was accepted with. */
  async function storedEvent(scoped: TenantSessions, id: string, turnId: string, queued: boolean, message: string, clientId: string | null): Promise<AgenhqEvent> {
    let at = Date.now();
    // The message was just stored: it is among the timeline's last entries (read by range, not the whole history).
    const entries = await timelineTail(scoped, id, 64).catch(() => []);
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i];
      if (entry?.meta?.turn === turnId && entry.message.role === 'user') {
        at = entry.meta.at;
        break;
      }
    }
    const createdAt = new Date(at).toISOString();
    return toEvent(id, {
      id: turnId,
      type: 'user_message',
      message,
      status: queued ? 'queued' : 'processing',
      clientId,
      createdAt,
      updatedAt: createdAt,
    });
  }

  return router;
}

/** Cursors are the native API's: the store's cursor, base64url-encoded. */
function encodeCursor(member: string): string {
  return Buffer.from(member).toString('base64url');
}

function decodeEventCursor(cursor: string): number {
  const match = /^e:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new FastifyValidationError('querystring/cursor is not a cursor from this API');
  return Number(match[1]);
}

function decodeCursor(cursor: string): string {
  const member = Buffer.from(cursor, 'base64url').toString();
  if (!/^\d{13}:[0-9a-f-]{36}$/.test(member)) throw new FastifyValidationError('querystring/cursor is not a cursor from this API');
  return member;
}
