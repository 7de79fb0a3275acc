import { Router, type Request, type Response } from 'express';
import {
  AppError,
  type ChatMessage,
  SessionArchivedError,
  SessionExistsError,
  type SessionView,
  newSessionId,
} from '@baton/core';
import { type SandboxRecord, SandboxStore, isRedisFull } from '@baton/store';
import type { AppDeps } from '../../app.ts';
import { tenantOf } from '../../http/auth.ts';
import type { ConversationKeys } from '../../http/conversation-keys.ts';
import { countEvents } from '../openhands/event-search.ts';
import { Checker, queryValue } from '../openhands/validate.ts';
import { allow } from '../../http/errors.ts';
import { parsePydantic as parse } from './pydantic.ts';
import {
  SPECS,
  PageQuery,
  SendMessageBody,
  StartRequest,
  appConversation as appConversationOf,
  badRequest,
  decodePageId,
  encodePageId,
  isAppConversation,
  normalizeUuid,
  queryList,
  sandboxInfo,
  startTask,
  toChatMessage,
} from './models.ts';
import { SandboxNotFoundError, SandboxOps } from './sandboxes.ts';

class ConversationNotFoundError extends AppError {
  constructor(id: string) {
    super(404, 'conversation_not_found', `Conversation ${id} not found`);
  }
}

class ConversationArchivedError extends AppError {
  constructor() {
    super(410, 'conversation_archived', 'Conversation is archived. The sandbox no longer exists.');
  }
}

const SESSION_MEMBER = /^\d{13}:[0-9a-f-]{36}$/;
const SANDBOX_MEMBER = /^\d{13}:[A-Za-z0-9_-]{1,128}$/;
const OFFSET = /^\d{1,6}$/;
/** A search reads at most this many sessions to fill one page of app conversations. */
const MAX_SCAN = 1000;
const OK = { success: true } as const;

/**
 * The OpenHands V1 app server (`/api/v1`): app conversations, sandboxes and sandbox
 * specs. One router serves the three mount paths; `req.baseUrl` says which resource
 * was asked for. An app conversation IS a Baton session (with a `sandbox_id`
 * attribute); a sandbox is a small record in the SandboxStore.
 */
export function openhandsV1Routes(deps: AppDeps, keys: ConversationKeys): Router {
  const ops = new SandboxOps(deps.service, deps.sandboxes);
  const conversations = conversationRoutes(deps, ops, keys);
  const sandboxes = sandboxRoutes(ops);
  const specs = specRoutes();
  const router = Router();
  router.use((req, res, next) => {
    if (req.baseUrl.endsWith('/app-conversations')) return conversations(req, res, next);
    if (req.baseUrl.endsWith('/sandbox-specs')) return specs(req, res, next);
    return sandboxes(req, res, next);
  });
  return router;
}

function originOf(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

function stringQuery(req: Request, name: string): string | undefined {
  const value = req.query[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

// ------------------------------------------------------------------ app conversations

function conversationRoutes(deps: AppDeps, ops: SandboxOps, keys: ConversationKeys): Router {
  const { store } = deps;
  /** AppConversation with its minted `session_api_key`. */
  const appConversation = (view: SessionView, sandbox: SandboxRecord | null, origin: string) => ({
    ...appConversationOf(view, sandbox, origin),
    session_api_key: keys.keyFor(view),
  });
  // The caller's conversations: another API key's are not found.
  const sessions = (res: Response) => deps.service.scope(tenantOf(res));
  const router = Router();

  /** The session behind an app conversation, or 404 (sessions not started here have no sandbox). */
  const conversation = async (res: Response, raw: string): Promise<SessionView> => {
    const id = normalizeUuid(raw);
    const view = id ? await sessions(res).get(id) : null;
    if (!isAppConversation(view)) throw new ConversationNotFoundError(raw);
    return view;
  };

  /** The sandboxes of some conversations, by id. */
  const sandboxesOf = async (views: SessionView[]): Promise<Map<string, SandboxRecord>> => {
    const ids = [...new Set(views.map((v) => v.attributes.sandbox_id as string))];
    const records = await ops.store.getMany(ids);
    return new Map(records.filter((r): r is SandboxRecord => r !== null).map((r) => [r.id, r]));
  };

  /** `?ids=` of a batch get: at most 99, each a UUID (hex or dashed), else 400 as upstream. */
  const batchIds = (req: Request): string[] => {
    const raw = queryList(req.query, 'ids');
    if (raw.length >= 100) throw badRequest('Too many ids requested. Maximum is 99.');
    const invalid = raw.filter((id) => normalizeUuid(id) === null);
    if (invalid.length) throw badRequest(`Invalid UUID format for ids: [${invalid.map((id) => `'${id}'`).join(', ')}]`);
    return raw.map((id) => normalizeUuid(id) as string);
  };

  const batchViews = async (res: Response, ids: string[]) =>
    (await Promise.all(ids.map((id) => sessions(res).get(id)))).map((v) => (isAppConversation(v) ? v : null));

  router.get('/search', async (req, res) => {
    const query = parse(PageQuery, req.query, 'query');
    const sandboxFilter = stringQuery(req, 'sandbox_id__eq');
    const titleFilter = stringQuery(req, 'title__contains')?.toLowerCase();
    let cursor = query.page_id === undefined ? undefined : decodePageId(query.page_id, SESSION_MEMBER);
    const items: SessionView[] = [];
    let scanned = 0;
    // Sessions not started through this surface are skipped: keep reading until the page is full.
    while (items.length < query.limit && scanned < MAX_SCAN) {
      const want = query.limit - items.length;
      const page = await sessions(res).list(want, cursor);
      scanned += want;
      for (const view of page.items) {
        if (!isAppConversation(view)) continue;
        if (sandboxFilter !== undefined && view.attributes.sandbox_id !== sandboxFilter) continue;
        if (titleFilter !== undefined && !(view.attributes.title ?? '').toLowerCase().includes(titleFilter)) continue;
        items.push(view);
      }
      cursor = page.nextCursor ?? undefined;
      if (!cursor) break;
    }
    const sandboxes = await sandboxesOf(items);
    const origin = originOf(req);
    res.json({
      items: items.map((v) => appConversation(v, sandboxes.get(v.attributes.sandbox_id as string) ?? null, origin)),
      next_page_id: cursor ? encodePageId(cursor) : null,
    });
  });
  router.all('/search', allow('GET'));

  router.get('/start-tasks', async (req, res) => {
    const views = await batchViews(res, batchIds(req));
    const origin = originOf(req);
    res.json(views.map((v) => (v ? startTask(v, origin) : null)));
  });
  router.all('/start-tasks', allow('GET'));

  router
    .route('/')
    .get(async (req, res) => {
      const views = await batchViews(res, batchIds(req));
      const present = views.filter((v): v is SessionView => v !== null);
      const sandboxes = await sandboxesOf(present);
      const origin = originOf(req);
      res.json(views.map((v) => (v ? appConversation(v, sandboxes.get(v.attributes.sandbox_id as string) ?? null, origin) : null)));
    })
    .post(async (req, res) => {
      const body = parse(StartRequest, req.body ?? {}, 'body');
      const tenant = tenantOf(res);
      const conversationId = body.conversation_id ?? newSessionId();
      // An id in use (by any API key) cannot be taken.
      if (body.conversation_id && (await store.get(conversationId))) throw conversationExists(conversationId);

      // The conversation joins its sandbox first: a sandbox paused or deleted meanwhile then finds it.
      let sandbox: SandboxRecord;
      let newSandbox = false;
      if (body.sandbox_id) {
        sandbox = await ops.live(body.sandbox_id, tenant);
        if (sandbox.status === 'ERROR') throw new AppError(503, 'sandbox_error', 'Sandbox is in an error state.');
        // As upstream, starting a conversation in a paused sandbox resumes it.
        if (sandbox.status !== 'RUNNING') await ops.resume(sandbox.id, tenant);
        if ((await ops.store.addConversation(sandbox.id, conversationId)) !== 'ok') throw new SandboxNotFoundError(sandbox.id);
      } else {
        sandbox = await ops.start({ tenant, conversationIds: [conversationId] });
        newSandbox = true;
      }

      const leaveSandbox = () => (newSandbox ? ops.store.remove(sandbox.id) : ops.store.removeConversation(sandbox.id, conversationId));
      try {
        await sessions(res).createSession({
          state: body.system_message_suffix ? [{ role: 'system', content: body.system_message_suffix }] : [],
          sessionId: conversationId,
          attributes: { ...attributesOf(body, sandbox.id, conversationId), ...keys.attributesFor(tenant, conversationId) },
        });
      } catch (err) {
        if (newSandbox || !(err instanceof SessionExistsError)) await leaveSandbox();
        throw err instanceof SessionExistsError ? conversationExists(conversationId) : err;
      }

      // The sandbox may have been paused or deleted while the session was created.
      const current = await ops.store.get(sandbox.id);
      if (current?.status === 'PAUSED') await sessions(res).pause(conversationId);
      else if (!current || current.status === 'MISSING') await sessions(res).archive(conversationId);

      const initial = body.initial_message;
      if (initial && initial.content.length) {
        const message = toChatMessage(initial.role, initial.content);
        // The app server's clients omit `run` and expect the agent to start: only `run: false` holds it.
        try {
          if (initial.run === false) await sessions(res).appendMessage(conversationId, message);
          else await sendOrGone(res, conversationId, message);
        } catch (err) {
          // Redis filled up after the conversation was made: take it back (deleting is allowed at
          // maxmemory), so the 503 storage_full leaves no conversation without its first message.
          if (isRedisFull(err)) {
            await sessions(res).deleteSession(conversationId);
            await leaveSandbox();
          }
          throw err;
        }
      }
      res.json(startTask(await sessions(res).getSession(conversationId), originOf(req), initial ?? null));
    })
    .all(allow('GET', 'POST'));

  router
    .route('/:id')
    .get(async (req, res) => {
      const view = await conversation(res, String(req.params.id));
      const sandboxes = await sandboxesOf([view]);
      res.json(appConversation(view, sandboxes.get(view.attributes.sandbox_id as string) ?? null, originOf(req)));
    })
    .delete(async (req, res) => {
      const raw = String(req.params.id);
      if (normalizeUuid(raw) === null) throw badRequest('Invalid conversation ID format');
      const view = await conversation(res, raw);
      const sandboxId = view.attributes.sandbox_id as string;
      await sessions(res).deleteSession(view.session_id);
      // As upstream: the sandbox goes too once no conversation uses it.
      await ops.store.removeConversation(sandboxId, view.session_id);
      await ops.store.removeIfEmpty(sandboxId);
      res.json(OK);
    })
    .all(allow('GET', 'DELETE'));

  router
    .route('/:id/send-message')
    .post(async (req, res) => {
      const body = parse(SendMessageBody, req.body, 'body');
      const view = await conversation(res, String(req.params.id));
      if (view.archived) throw new ConversationArchivedError();
      const sandbox = await ops.store.get(view.attributes.sandbox_id as string);
      if (!sandbox) throw new AppError(404, 'sandbox_not_found', `Sandbox not found for conversation ${view.session_id}`);
      if (sandbox.status === 'MISSING') throw new ConversationArchivedError();
      if (sandbox.status === 'ERROR') {
        throw new AppError(503, 'sandbox_error', 'Sandbox is in an error state and cannot accept messages.');
      }
      if (sandbox.status !== 'RUNNING') {
        throw new AppError(
          409,
          'sandbox_not_running',
          `Sandbox is ${sandbox.status}. Use POST /api/v1/sandboxes/${sandbox.id}/resume to resume it first.`,
        );
      }
      const message = toChatMessage(body.role, body.content);
      // `run: true` on a busy conversation waits its turn (as the agent server runs again after the current step).
      if (body.run) await sendOrGone(res, view.session_id, message);
      else await sessions(res).appendMessage(view.session_id, message).catch(gone);
      res.json({ success: true, sandbox_status: sandbox.status, message: null });
    })
    .all(allow('POST'));

  const sendOrGone = (res: Response, id: string, message: ChatMessage) =>
    sessions(res).sendMessage(id, { ...message, webhook: null, if_busy: 'enqueue' }, { request: res.locals.requestKey }).catch(gone);

  return router;
}

/** A session archived between the check and the write still answers in this surface's words. */
function gone(err: unknown): never {
  throw err instanceof SessionArchivedError ? new ConversationArchivedError() : err;
}

function conversationExists(id: string): AppError {
  return new AppError(409, 'conversation_exists', `Conversation ${id} already exists`);
}

/** What the conversation keeps of its start request (session attributes are strings). */
function attributesOf(body: StartRequest, sandboxId: string, conversationId: string): Record<string, string> {
  const attributes: Record<string, string> = {
    sandbox_id: sandboxId,
    title: body.title ?? `Conversation ${conversationId.replace(/-/g, '')}`,
    agent_type: body.agent_type,
  };
  const optional = {
    llm_model: body.llm_model,
    selected_repository: body.selected_repository,
    selected_branch: body.selected_branch,
    git_provider: body.git_provider,
    trigger: body.trigger,
    parent_conversation_id: body.parent_conversation_id,
  };
  for (const [key, value] of Object.entries(optional)) if (value) attributes[key] = value;
  if (body.pr_number.length) attributes.pr_number = JSON.stringify(body.pr_number);
  if (body.public !== undefined && body.public !== null) attributes.public = String(body.public);
  return attributes;
}

// ------------------------------------------------------------------ events

/**
 * `GET /api/v1/events/count?conversation_id__eq=`: how many events the conversation has,
 * counted as the agent server's `events/count` counts them (from the time index: no history
 * read). Baton asks for the conversation (upstream counts every conversation's events without it).
 */
export function openhandsV1Events(deps: AppDeps): Router {
  const router = Router();
  router
    .route('/count')
    .get(async (req, res) => {
      const check = new Checker();
      const raw = queryValue(req, 'conversation_id__eq');
      const id = raw === undefined ? check.missing(['query', 'conversation_id__eq']) : check.uuid(raw, ['query', 'conversation_id__eq']);
      check.done();
      res.json(await countEvents(deps.service.scope(tenantOf(res)), id as string, {}));
    })
    .all(allow('GET'));
  return router;
}

// ------------------------------------------------------------------ sandboxes

function sandboxRoutes(ops: SandboxOps): Router {
  const router = Router();

  router.get('/search', async (req, res) => {
    const query = parse(PageQuery, req.query, 'query');
    const cursor = query.page_id === undefined ? undefined : decodePageId(query.page_id, SANDBOX_MEMBER);
    const page = await ops.store.list(query.limit, cursor);
    const origin = originOf(req);
    // Another API key's sandboxes are left out (a page may hold fewer than `limit`).
    res.json({
      items: page.items.filter((r) => ops.sees(r, tenantOf(res))).map((r) => sandboxInfo(r, origin)),
      next_page_id: page.nextCursor ? encodePageId(page.nextCursor) : null,
    });
  });
  router.all('/search', allow('GET'));

  router
    .route('/')
    .get(async (req, res) => {
      const ids = queryList(req.query, 'id');
      if (ids.length > 100) throw badRequest(`Cannot request more than 100 sandboxes at once, got ${ids.length}`);
      const records = await ops.store.getMany(ids);
      const origin = originOf(req);
      res.json(records.map((r) => (r && r.status !== 'MISSING' && ops.sees(r, tenantOf(res)) ? sandboxInfo(r, origin) : null)));
    })
    .post(async (req, res) => {
      // Upstream takes `sandbox_spec_id` as a query parameter; a JSON body is accepted too.
      const body = req.body as { sandbox_spec_id?: unknown } | undefined;
      const specId = stringQuery(req, 'sandbox_spec_id') ?? (typeof body?.sandbox_spec_id === 'string' ? body.sandbox_spec_id : undefined);
      if (specId !== undefined && !SPECS.some((s) => s.id === specId)) {
        throw new AppError(404, 'sandbox_spec_not_found', `Sandbox spec ${specId} not found`);
      }
      const record = await ops.start({ tenant: tenantOf(res), sandboxSpecId: specId });
      res.json(sandboxInfo(record, originOf(req)));
    })
    .all(allow('GET', 'POST'));

  router
    .route('/:id/pause')
    .post(async (req, res) => {
      await ops.pause(String(req.params.id), tenantOf(res));
      res.json(OK);
    })
    .all(allow('POST'));

  router
    .route('/:id/resume')
    .post(async (req, res) => {
      await ops.resume(String(req.params.id), tenantOf(res));
      res.json(OK);
    })
    .all(allow('POST'));

  router
    .route('/:id')
    .delete(async (req, res) => {
      await ops.delete(String(req.params.id), tenantOf(res));
      res.json(OK);
    })
    .all(allow('DELETE'));

  return router;
}

// ------------------------------------------------------------------ sandbox specs

function specRoutes(): Router {
  const router = Router();

  router.get('/search', (req, res) => {
    const query = parse(PageQuery, req.query, 'query');
    const offset = query.page_id === undefined ? 0 : Number(decodePageId(query.page_id, OFFSET));
    const items = SPECS.slice(offset, offset + query.limit);
    const next = offset + items.length;
    res.json({ items, next_page_id: next < SPECS.length ? encodePageId(String(next)) : null });
  });
  router.all('/search', allow('GET'));

  router
    .route('/')
    .get((req, res) => {
      const ids = queryList(req.query, 'id');
      if (ids.length > 100) throw badRequest(`Cannot request more than 100 sandbox specs at once, got ${ids.length}`);
      res.json(ids.map((id) => SPECS.find((s) => s.id === id) ?? null));
    })
    .all(allow('GET'));

  return router;
}
