import { Router, type Request, type Response } from 'express';
import { AppError, LIST_ALL_MAX, SessionBusyError, SessionExistsError, type SessionView } from '@baton/core';
import { type RequestKey, type TenantSessions, listCursor } from '@baton/store';
import type { AppDeps } from '../../app.ts';
import { tenantOf } from '../../http/auth.ts';
import type { ConversationKeys } from '../../http/conversation-keys.ts';
import { allow } from '../../http/errors.ts';
import { ATTR_AGENT, ATTR_TAGS, ATTR_TITLE, ATTR_WORKSPACE, EXECUTION_STATUSES, maskedSpec, type ExecutionStatus, conversationInfo, executionStatus } from './conversation.ts';
import { confirmationRoutes } from './confirmation.ts';
import { countEvents, searchEvents } from './event-search.ts';
import { type EventFilter, type EventJson, timelineEvents } from './events.ts';
import { type SendMessage, isLegacyEvent, parseLegacyEvent, parseSendMessage } from './messages.ts';
import { Checker, conversationId, queryValue, queryValues } from './validate.ts';

/** The agent server's conversation orders; its default is CREATED_AT_DESC. */
const SORT_ORDERS = ['CREATED_AT', 'UPDATED_AT', 'CREATED_AT_DESC', 'UPDATED_AT_DESC'] as const;

/** The agent server's page size limit (`limit` is `gt=0, le=100`). */
const MAX_LIMIT = 100;

const ALREADY_RUNNING = 'Conversation already running. Wait for completion or pause first.';

const success = { success: true } as const;

/**
 * The OpenHands agent server API (`/api/conversations`), plus OpenHands 0.53's
 * `add_event` body on the same events route. A conversation IS a Baton session: every
 * route goes through the one SessionService, and conversations created here are
 * ordinary sessions (visible to every other API, to the same API key).
 */
export function openhandsRoutes(deps: AppDeps, keys: ConversationKeys): Router {
  // The caller's conversations: another API key's are not found.
  const sessions = (res: Response) => deps.service.scope(tenantOf(res));
  const router = Router();
  // Before `/:id/events/:eventId`: `respond_to_confirmation` is a route, not an event id.
  confirmationRoutes(router, sessions);

  router
    .route('/')
    .post(async (req, res) => {
      const start = parseStart(req.body);
      if (start.conversationId) {
        const existing = await sessions(res).get(start.conversationId);
        if (existing) return void res.status(200).json(conversationInfo(existing));
      }
      let view: SessionView;
      try {
        view = await sessions(res).createSession({
          state: [],
          sessionId: start.conversationId,
          attributes: start.attributes,
        });
      } catch (err) {
        // Created by a concurrent request between the check and the create: it exists now.
        if (err instanceof SessionExistsError && start.conversationId) {
          return void res.status(200).json(conversationInfo(await sessions(res).getSession(start.conversationId)));
        }
        throw err;
      }
      // As the agent server does, an initial message always starts the agent (whatever its `run`).
      if (start.initial) {
        await sessions(res).sendMessage(view.session_id, { ...start.initial.message, webhook: null, if_busy: 'enqueue' });
        view = await sessions(res).getSession(view.session_id);
      }
      res.status(201).json(conversationInfo(view));
    })
    .get(async (req, res) => {
      // Batch get: `?ids=<uuid>&ids=<uuid>`, null for each missing one.
      const check = new Checker();
      const raw = queryValues(req, 'ids');
      if (!raw.length) check.missing(['query', 'ids']);
      if (raw.length >= MAX_LIMIT) check.add('value_error', ['query', 'ids'], `Ask for fewer than ${MAX_LIMIT} ids at a time`);
      const ids = raw.map((id, i) => check.uuid(id, ['query', 'ids', i]));
      check.done();
      const views = await Promise.all(ids.map((id) => sessions(res).get(id as string)));
      res.json(views.map((view) => (view ? conversationInfo(view) : null)));
    })
    .all(allow('GET', 'POST'));

  router
    .route('/search')
    .get(async (req, res) => {
      const check = new Checker();
      const limit = optional(queryValue(req, 'limit'), (v) => check.int(v, ['query', 'limit'], { gt: 0, le: MAX_LIMIT })) ?? MAX_LIMIT;
      const pageId = queryValue(req, 'page_id');
      const status = statusFilter(check, req);
      // Newest first unless asked otherwise, as upstream.
      const order = optional(queryValue(req, 'sort_order'), (v) => check.literal(v, SORT_ORDERS, ['query', 'sort_order'], 'enum')) ?? 'CREATED_AT_DESC';
      const byUpdated = order === 'UPDATED_AT' || order === 'UPDATED_AT_DESC';
      const cursor = pageId === undefined ? undefined : byUpdated ? decodeUpdatedPageId(check, pageId) : decodePageId(check, pageId);
      check.done();
      const page = byUpdated
        ? await byUpdate(sessions(res), { limit, after: cursor, status, newestFirst: order === 'UPDATED_AT_DESC' })
        : await scanConversations(sessions(res), { limit, cursor, status, newestFirst: order === 'CREATED_AT_DESC' });
      res.json({ items: page.items.map(conversationInfo), next_page_id: page.next ? encodePageId(page.next) : null });
    })
    .all(allow('GET'));

  router
    .route('/count')
    .get(async (req, res) => {
      const check = new Checker();
      const status = statusFilter(check, req);
      check.done();
      if (!status) return void res.json(await sessions(res).count());
      const page = await scanConversations(sessions(res), { limit: Number.MAX_SAFE_INTEGER, status });
      res.json(page.items.length);
    })
    .all(allow('GET'));

  router
    .route('/:id')
    .get(async (req, res) => {
      const view = await sessions(res).getSession(conversationId(req));
      res.json({ ...conversationInfo(view), ...(await v1Fields(deps, keys, view, req)) });
    })
    .patch(async (req, res) => {
      // UpdateConversationRequest: a new title; tags replace all tags when given.
      const id = conversationId(req);
      const check = new Checker();
      const body = check.model(req.body ?? {}, ['body']);
      const meta = body ? parseTitleAndTags(check, body) : {};
      check.done();
      const attributes: Record<string, string | null> = {};
      if (meta.title !== undefined) attributes[ATTR_TITLE] = meta.title;
      if (meta.tags !== undefined) attributes[ATTR_TAGS] = meta.tags;
      if (Object.keys(attributes).length) await sessions(res).setAttributes(id, attributes);
      else await sessions(res).getSession(id);
      res.json(success);
    })
    .delete(async (req, res) => {
      await sessions(res).deleteSession(conversationId(req));
      res.json(success);
    })
    .all(allow('GET', 'PATCH', 'DELETE'));

  router
    .route('/:id/agent_final_response')
    .get(async (req, res) => {
      // The text of the agent's last reply ("" before the first one), as upstream.
      const messages = await sessions(res).messages(conversationId(req));
      const last = [...messages].reverse().find((m) => m.role === 'assistant');
      res.json({ response: last?.content ?? '' });
    })
    .all(allow('GET'));

  router
    .route('/:id/run')
    .post(async (req, res) => {
      const id = conversationId(req);
      const view = await sessions(res).getSession(id);
      if (view.status === 'running') throw new AppError(409, 'conversation_running', ALREADY_RUNNING);
      if (view.paused) {
        // Resuming starts the first held message's turn, if there is one: that is the run.
        const resumed = await sessions(res).resume(id);
        if (resumed.status === 'running') return void res.json(success);
      }
      try {
        await sessions(res).run(id, 'reject');
      } catch (err) {
        if (err instanceof SessionBusyError) throw new AppError(409, 'conversation_running', ALREADY_RUNNING);
        throw err;
      }
      res.json(success);
    })
    .all(allow('POST'));

  router
    .route('/:id/pause')
    .post(async (req, res) => {
      await sessions(res).pause(conversationId(req));
      res.json(success);
    })
    .all(allow('POST'));

  router
    .route('/:id/interrupt')
    .post(async (req, res) => {
      // As in the agent server, an interrupted conversation is paused until `/run`:
      // pause first, so no queued message starts when the cancelled turn ends.
      const id = conversationId(req);
      await sessions(res).pause(id);
      await sessions(res).cancel(id);
      res.json(success);
    })
    .all(allow('POST'));

  router
    .route('/:id/events')
    .post(async (req, res) => {
      const id = conversationId(req);
      const check = new Checker();
      if (isLegacyEvent(req.body)) {
        const event = parseLegacyEvent(check, req.body as Record<string, unknown>);
        check.done();
        await addLegacyEvent(sessions(res), id, event!);
        return void res.json(success);
      }
      const send = parseSendMessage(check, req.body, ['body']);
      check.done();
      await sendMessage(sessions(res), id, send!, res.locals.requestKey);
      res.json(success);
    })
    .all(allow('POST'));

  router
    .route('/:id/events/search')
    .get(async (req, res) => {
      const id = conversationId(req);
      const check = new Checker();
      const limit = optional(queryValue(req, 'limit'), (v) => check.int(v, ['query', 'limit'], { gt: 0, le: MAX_LIMIT })) ?? MAX_LIMIT;
      const order = optional(queryValue(req, 'sort_order'), (v) => check.literal(v, ['TIMESTAMP', 'TIMESTAMP_DESC'], ['query', 'sort_order'], 'enum'));
      const filter = eventFilter(check, req);
      const pageId = queryValue(req, 'page_id');
      check.done();
      const page = await searchEvents(sessions(res), id, { limit, desc: order === 'TIMESTAMP_DESC', filter, ...(pageId ? { pageId } : {}) });
      if (page === 'unknown_page') {
        check.add('value_error', ['query', 'page_id'], 'Not a next_page_id of this conversation', pageId);
        check.done();
      }
      res.json(page);
    })
    .all(allow('GET'));

  router
    .route('/:id/events/count')
    .get(async (req, res) => {
      const id = conversationId(req);
      const check = new Checker();
      const filter = eventFilter(check, req);
      check.done();
      res.json(await countEvents(sessions(res), id, filter));
    })
    .all(allow('GET'));

  router
    .route('/:id/events/:eventId')
    .get(async (req, res) => {
      const id = conversationId(req);
      const events = await conversationEvents(sessions(res), id);
      const event = events.find((e) => e.id === req.params.eventId);
      if (!event) throw new AppError(404, 'event_not_found', `Event ${JSON.stringify(req.params.eventId)} not found`);
      res.json(event);
    })
    .all(allow('GET'));

  return router;
}

interface StartRequest {
  conversationId?: string;
  initial?: SendMessage;
  attributes: Record<string, string>;
}

/**
 * The parts of a StartConversationRequest Baton honours: `conversation_id`,
 * `initial_message`, `tags`, and (a Baton extension) `title`. The agent, workspace,
 * LLM and policy fields are accepted and ignored: the session runs Baton's agent.
 */
function parseStart(raw: unknown): StartRequest {
  const check = new Checker();
  const body = raw === undefined ? {} : check.model(raw, ['body']);
  const start: StartRequest = { attributes: {} };
  if (body) {
    if (body.conversation_id !== undefined && body.conversation_id !== null) {
      start.conversationId = check.uuid(body.conversation_id, ['body', 'conversation_id']);
    }
    if (body.initial_message !== undefined && body.initial_message !== null) {
      start.initial = parseSendMessage(check, body.initial_message, ['body', 'initial_message']);
    }
    // Kept to answer as sent (secrets masked); the session still runs Baton's agent.
    for (const [field, attr] of [['agent', ATTR_AGENT], ['workspace', ATTR_WORKSPACE]] as const) {
      const spec = body[field];
      if (spec === undefined || spec === null) continue;
      const dict = check.dict(spec, ['body', field]);
      const text = dict ? maskedSpec(dict) : null;
      if (text) start.attributes[attr] = text;
    }
    const meta = parseTitleAndTags(check, body);
    if (meta.title) start.attributes[ATTR_TITLE] = meta.title;
    if (meta.tags) start.attributes[ATTR_TAGS] = meta.tags;
  }
  check.done();
  return start;
}

/**
 * `title` (1..200 characters) and `tags` (`{key: value}`, keys lowercase alphanumeric,
 * values up to 256 characters) of a start or update request. `tags` is the JSON to keep,
 * `null` for `{}` (no tags); each is undefined when not given (or invalid).
 */
function parseTitleAndTags(check: Checker, body: Record<string, unknown>): { title?: string; tags?: string | null } {
  const out: { title?: string; tags?: string | null } = {};
  if (body.title !== undefined && body.title !== null) {
    const title = check.string(body.title, ['body', 'title'], { min: 1, max: 200 });
    if (title !== undefined) out.title = title;
  }
  if (body.tags !== undefined && body.tags !== null) {
    const tags = check.dict(body.tags, ['body', 'tags']);
    if (tags) {
      const before = check.issues.length;
      for (const [key, value] of Object.entries(tags)) {
        if (!/^[a-z0-9]+$/.test(key)) check.add('value_error', ['body', 'tags', key], 'Tag keys must be lowercase alphanumeric', key);
        check.string(value, ['body', 'tags', key], { max: 256 });
      }
      if (check.issues.length === before) out.tags = Object.keys(tags).length ? JSON.stringify(tags) : null;
    }
  }
  return out;
}

/** `run: false` adds the message to the history; `run: true` also runs it (after the current turn when busy). */
async function sendMessage(sessions: TenantSessions, id: string, send: SendMessage, request?: RequestKey): Promise<void> {
  if (send.run) await sessions.sendMessage(id, { ...send.message, webhook: null, if_busy: 'enqueue' }, { request });
  else await sessions.appendMessage(id, send.message);
}

/** OpenHands 0.53: a user message runs (queued behind a running turn); agent-state changes pause, resume or stop. */
async function addLegacyEvent(sessions: TenantSessions, id: string, event: NonNullable<ReturnType<typeof parseLegacyEvent>>): Promise<void> {
  if (event.kind === 'message') {
    await sessions.sendMessage(id, { ...event.message, webhook: null, if_busy: 'enqueue' });
    return;
  }
  switch (event.state) {
    case 'paused':
      await sessions.pause(id);
      return;
    case 'stopped':
      await sessions.cancel(id);
      return;
    case 'running': {
      const view = await sessions.getSession(id);
      if (view.paused) await sessions.resume(id);
      return;
    }
  }
}

export async function conversationEvents(sessions: TenantSessions, id: string): Promise<EventJson[]> {
  const view = await sessions.getSession(id);
  const entries = await sessions.timeline(id);
  return timelineEvents(view, entries);
}

function eventFilter(check: Checker, req: Request): EventFilter {
  const filter: EventFilter = {};
  const kind = queryValue(req, 'kind');
  if (kind !== undefined) filter.kind = kind;
  const source = queryValue(req, 'source');
  if (source !== undefined) filter.source = source;
  const body = queryValue(req, 'body');
  if (body !== undefined) filter.body = body;
  const gte = optional(queryValue(req, 'timestamp__gte'), (v) => check.datetime(v, ['query', 'timestamp__gte']));
  if (gte !== undefined) filter.gte = gte;
  const lt = optional(queryValue(req, 'timestamp__lt'), (v) => check.datetime(v, ['query', 'timestamp__lt']));
  if (lt !== undefined) filter.lt = lt;
  return filter;
}

function statusFilter(check: Checker, req: Request): ExecutionStatus | undefined {
  return optional(queryValue(req, 'status'), (v) => check.literal(v, EXECUTION_STATUSES, ['query', 'status'], 'enum'));
}

function optional<T>(value: string | undefined, parse: (value: string) => T | undefined): T | undefined {
  return value === undefined ? undefined : parse(value);
}

/**
 * Conversations in creation order from `cursor`, up to `limit` of them with the given
 * execution status (all when none is given). `next` is the index member of the last
 * item when more sessions follow it.
 */
async function scanConversations(
  sessions: TenantSessions,
  options: { limit: number; cursor?: string; status?: ExecutionStatus; newestFirst?: boolean },
): Promise<{ items: SessionView[]; next: string | null }> {
  const items: SessionView[] = [];
  const batch = Math.min(options.limit + 1, MAX_LIMIT + 1);
  let cursor = options.cursor;
  for (;;) {
    const page = await sessions.list(batch, cursor, options.newestFirst ? 'newest' : 'oldest');
    for (const view of page.items) {
      if (options.status && executionStatus(view) !== options.status) continue;
      if (items.length === options.limit) return { items, next: listCursor(items[items.length - 1] as SessionView) };
      items.push(view);
    }
    if (!page.nextCursor) return { items, next: null };
    cursor = page.nextCursor;
  }
}


/**
 * Conversations by last update (no index keeps that order): every conversation is read, up
 * to LIST_ALL_MAX, and sorted; a page starts after the `<updated ms>:<id>` key of the one
 * before. A conversation updated between two pages may show on both, or on neither.
 */
async function byUpdate(
  sessions: TenantSessions,
  options: { limit: number; after?: string; status?: ExecutionStatus; newestFirst: boolean },
): Promise<{ items: SessionView[]; next: string | null }> {
  const all = await scanConversations(sessions, { limit: LIST_ALL_MAX, ...(options.status ? { status: options.status } : {}) });
  const key = (view: SessionView) => `${String(Date.parse(view.updated_at)).padStart(13, '0')}:${view.session_id}`;
  const sorted = all.items.map((view) => ({ view, key: key(view) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (options.newestFirst) sorted.reverse();
  const after = options.after;
  const rest = after === undefined ? sorted : sorted.filter((e) => (options.newestFirst ? e.key < after : e.key > after));
  const items = rest.slice(0, options.limit).map((e) => e.view);
  const last = rest[options.limit - 1];
  return { items, next: rest.length > options.limit && last ? `u${last.key}` : null };
}

function decodeUpdatedPageId(check: Checker, pageId: string): string | undefined {
  const member = Buffer.from(pageId, 'base64url').toString();
  if (/^u\d{13}:[0-9a-f-]{36}$/.test(member)) return member.slice(1);
  return check.add('value_error', ['query', 'page_id'], 'Not a next_page_id from this API', pageId);
}

function encodePageId(member: string): string {
  return Buffer.from(member).toString('base64url');
}

function decodePageId(check: Checker, pageId: string): string | undefined {
  const member = Buffer.from(pageId, 'base64url').toString();
  if (/^\d{13}:[0-9a-f-]{36}$/.test(member)) return member;
  return check.add('value_error', ['query', 'page_id'], 'Not a next_page_id from this API', pageId);
}

/** V0 ConversationStatus, from the sandbox a V1 conversation runs in. */
const V1_STATUS = { STARTING: 'STARTING', RUNNING: 'RUNNING', PAUSED: 'STOPPED', ERROR: 'ERROR', MISSING: 'ARCHIVED' } as const;

/**
 * What the OpenHands web app reads of a V1 conversation (one started by the app server,
 * `/api/v1/app-conversations`) beside the agent-server fields; nothing for others.
 */
async function v1Fields(deps: AppDeps, keys: ConversationKeys, view: SessionView, req: Request) {
  const sandboxId = view.attributes.sandbox_id;
  if (!sandboxId) return {};
  const sandbox = await deps.sandboxes.get(sandboxId);
  const status = view.archived ? 'ARCHIVED' : V1_STATUS[sandbox?.status ?? 'MISSING'];
  return {
    conversation_id: view.session_id,
    status,
    url: `${req.protocol}://${req.get('host') ?? 'localhost'}/api/conversations/${view.session_id}`,
    session_api_key: keys.keyFor(view),
    conversation_version: 'V1',
  };
}
