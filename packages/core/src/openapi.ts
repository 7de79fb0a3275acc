import { z } from 'zod';
import { CREATE_SESSION_EXAMPLE, MESSAGE_EXAMPLE, RESUME_EXAMPLE, SURFACE_PAGES } from './openapi-examples.ts';
import { DeadLetterQuery, EventsQuery, LIST_ALL_MAX, ListQuery, MessagesQuery, WaitQuery } from './queries.ts';
import {
  CancelAccepted,
  ResumeAccepted,
  DeadLetter,
  Delivery,
  DeliveryAttempt,
  ErrorBody,
  Health,
  MessageAccepted,
  NotReady,
  Ready,
  SessionListItem,
  SessionResponse,
} from './responses.ts';
import { ChatMessage, CreateSessionRequest, InterruptInfo, MessageRequest, ResumeRequest, ToolCall, WebhookSpec } from './schemas.ts';

/**
 * The OpenAPI 3.1 document of the native API, built from the zod schemas the routes
 * validate requests with and type their responses by: there is no hand-written spec.
 * `ROUTES` is the one list of operations; a unit test fails when a route registered in
 * the Express app is missing from it (or the other way round).
 */

/** Response bodies, by component name (io: output: what the server sends). */
const RESPONSE_SCHEMAS = {
  ChatMessage,
  SessionResponse,
  SessionListItem,
  MessageAccepted,
  CancelAccepted,
  ResumeAccepted,
  InterruptInfo,
  DeliveryAttempt,
  Delivery,
  DeadLetter,
  ErrorBody,
  Health,
  Ready,
  NotReady,
};
/** Request bodies, by component name (io: input: defaults make fields optional). */
const REQUEST_SCHEMAS = {
  CreateSessionRequest,
  MessageRequest,
  ResumeRequest,
  WebhookSpec,
  ChatMessageInput: ChatMessage,
  ToolCallInput: ToolCall,
};
type ResponseName = keyof typeof RESPONSE_SCHEMAS;
type RequestName = 'CreateSessionRequest' | 'MessageRequest' | 'ResumeRequest';

/** Every error `code` of the native API and its status. */
export const ERROR_CODES = {
  invalid_json: { status: 400, when: 'the body is not valid JSON' },
  invalid_session_id: { status: 400, when: 'the id is not a UUID' },
  idempotency_key_invalid: { status: 400, when: 'the `Idempotency-Key` is not 1 to 255 printable ASCII characters' },
  unauthorized: { status: 401, when: '`API_KEYS` is set and no valid `Authorization: Bearer <key>` was sent' },
  session_not_found: { status: 404, when: 'no such session (or an id that cannot be one)' },
  delivery_not_found: { status: 404, when: 'no such delivery in this session' },
  session_quota_exceeded: { status: 403, when: 'the API key holds its `TENANT_MAX_SESSIONS` sessions: delete some first' },
  storage_quota_exceeded: { status: 403, when: 'the API key\'s sessions hold its `TENANT_MAX_BYTES` of messages: delete sessions first' },
  interrupt_not_found: { status: 404, when: 'the session waits on another interrupt (`interrupt_id` is not the one `GET /sessions/{id}` shows)' },
  session_exists: { status: 409, when: 'a session with this id exists' },
  session_running: { status: 409, when: 'a turn is running and `if_busy` is `"reject"`' },
  session_paused: { status: 409, when: 'the session is paused (OpenHands pause, V1 sandbox pause)' },
  session_not_interrupted: { status: 409, when: 'resume of a session that waits for nobody ("Session is <status>, not interrupted")' },
  delivery_pending: { status: 409, when: 'the delivery is still being attempted' },
  message_limit_reached: { status: 409, when: 'history plus queued messages reached `MAX_MESSAGES_PER_SESSION`' },
  idempotency_key_in_flight: { status: 409, when: 'a request with this `Idempotency-Key` is still running (`Retry-After: 1`)' },
  session_archived: { status: 410, when: 'the session is read-only for good (its OpenHands V1 sandbox was deleted)' },
  payload_too_large: { status: 413, when: 'the body is over `BODY_LIMIT`' },
  unsupported_media_type: { status: 415, when: 'the body is not `application/json`' },
  validation_failed: { status: 422, when: 'a field or query parameter is invalid (`details` names each)' },
  webhook_url_invalid: { status: 422, when: 'the webhook URL is malformed or carries credentials' },
  webhook_url_refused: { status: 422, when: 'the webhook URL is or resolves to a refused (private) address' },
  idempotency_key_reused: { status: 422, when: 'the `Idempotency-Key` was used with a different request (method, path or body)' },
  rate_limited: { status: 429, when: 'the API key is over `RATE_LIMIT_PER_S` (`Retry-After` says when to retry)' },
  session_limit_reached: { status: 503, when: '`MAX_SESSIONS` is reached' },
  service_unavailable: { status: 503, when: 'Redis is unreachable (`Retry-After: 1`); a request sent while it is down was not accepted' },
  too_many_waiters: { status: 503, when: 'this API process holds `MAX_WAITERS` long-polls and event streams (`Retry-After: 1`)' },
  replication_timeout: { status: 503, when: '`REDIS_WAIT_REPLICAS` is set and fewer replicas acknowledged the write in time: it may be on the master only; retry with the same `Idempotency-Key` (`Retry-After: 1`)' },
  storage_full: { status: 503, when: 'Redis is full (`maxmemory` reached under `noeviction`): nothing was stored (`Retry-After: 5`)' },
} as const satisfies Record<string, { status: number; when: string }>;
export type ErrorCode = keyof typeof ERROR_CODES;

type Header = 'location' | 'x-next-cursor' | 'link' | 'retry-after';

export interface Reply {
  description: string;
  /**
   * A response component, `[name]` for an array of it, `html`, `document` (this document),
   * `event-stream` (SSE), `markdown` (a docs page) or `prometheus` (metrics text).
   */
  body?: ResponseName | readonly [ResponseName] | 'html' | 'document' | 'event-stream' | 'markdown' | 'prometheus';
  headers?: Header[];
}

export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI path template, e.g. `/sessions/{id}`. */
  path: string;
  operationId: string;
  tag: 'Sessions' | 'Webhooks' | 'Service';
  summary: string;
  description?: string;
  /** Served without an API key, like `/health`. */
  public?: boolean;
  /** Needs `ADMIN_KEY` when the server sets one (`/metrics`); open otherwise. */
  admin?: boolean;
  query?: z.ZodObject;
  /** The JSON request body (always optional: an empty body is `{}`). */
  body?: RequestName;
  /** What "Try it out" sends: a valid request that does something sensible (see `openapi-examples.ts`). */
  example?: object;
  replies: Record<number, Reply>;
  /** Errors besides those every route has (401, 503; 400/413/415/422 with a body, 422 with a query). */
  errors?: ErrorCode[];
}

export interface OpenApiOptions {
  /** PAGE_LIMIT_MAX: the largest `limit` of `GET /sessions`. */
  pageLimitMax: number;
  longPollDefaultS: number;
  longPollMaxS: number;
  version?: string;
}

/** The native API's operations. Keep in step with `apps/api/src/routes` (a unit test checks). */
export function nativeRoutes(options: OpenApiOptions): RouteDoc[] {
  const created: Reply = { description: 'Created', body: 'SessionResponse', headers: ['location'] };
  return [
    {
      method: 'post',
      path: '/sessions',
      operationId: 'createSession',
      tag: 'Sessions',
      summary: 'Create a session',
      description:
        'Optionally preloads its history (`state`), picks its agent (`agent`: a built-in one or one of the server\'s `AGENTS_MODULE`; 422 naming `body.agent` and listing the known ones otherwise), sets the agent\'s settings (`config`: `model`, `system`, `temperature`, `max_steps`…, checked against what that agent accepts; 422 naming `body.config.<field>`) and its default webhook.',
      body: 'CreateSessionRequest',
      example: CREATE_SESSION_EXAMPLE,
      replies: { 201: created },
      errors: ['webhook_url_invalid', 'webhook_url_refused', 'session_limit_reached', 'session_quota_exceeded', 'storage_quota_exceeded', 'replication_timeout'],
    },
    {
      method: 'get',
      path: '/sessions',
      operationId: 'listSessions',
      tag: 'Sessions',
      summary: 'List sessions, oldest first',
      description:
        `Without \`limit\` or \`cursor\`, every session (up to ${LIST_ALL_MAX}), as Motus lists them. ` +
        'When there is more, `X-Next-Cursor` and `Link: <…>; rel="next"` carry the next page; pass the cursor back as `cursor`.',
      query: ListQuery(options.pageLimitMax),
      replies: { 200: { description: 'One page of sessions', body: ['SessionListItem'], headers: ['x-next-cursor', 'link'] } },
    },
    {
      method: 'get',
      path: '/sessions/{id}',
      operationId: 'getSession',
      tag: 'Sessions',
      summary: 'Get a session (or long-poll until its turn ends)',
      description:
        `While \`interrupted\` the body carries \`interrupts\`. ` +
        `With \`wait=true\` the answer waits until the status is no longer \`running\`, at most \`timeout\` seconds ` +
        `(default ${options.longPollDefaultS}, capped at ${options.longPollMaxS}); at the timeout it answers 200 with \`running\`; ` +
        '404 if the session is deleted meanwhile.',
      query: WaitQuery,
      replies: { 200: { description: 'The session', body: 'SessionResponse' } },
      errors: ['session_not_found', 'too_many_waiters'],
    },
    {
      method: 'put',
      path: '/sessions/{id}',
      operationId: 'putSession',
      tag: 'Sessions',
      summary: 'Create a session with your own UUID',
      body: 'CreateSessionRequest',
      example: CREATE_SESSION_EXAMPLE,
      replies: { 201: created },
      errors: ['invalid_session_id', 'session_exists', 'webhook_url_invalid', 'webhook_url_refused', 'session_limit_reached', 'session_quota_exceeded', 'storage_quota_exceeded', 'replication_timeout'],
    },
    {
      method: 'delete',
      path: '/sessions/{id}',
      operationId: 'deleteSession',
      tag: 'Sessions',
      summary: 'Delete a session',
      description: 'Safe during a turn: the running agent is aborted.',
      replies: { 204: { description: 'Deleted' } },
      errors: ['session_not_found'],
    },
    {
      method: 'get',
      path: '/sessions/{id}/messages',
      operationId: 'getMessages',
      tag: 'Sessions',
      summary: "The session's history, oldest first",
      description:
        'Without `limit`, the whole history. With `limit`, one page: when there is more, `X-Next-Cursor` and ' +
        '`Link: <…>; rel="next"` carry the next page; pass the cursor back as `cursor`. Messages added while ' +
        'a client walks the pages are on later pages (no gap, no repeat).',
      query: MessagesQuery(options.pageLimitMax),
      replies: { 200: { description: 'The history, or one page of it', body: ['ChatMessage'], headers: ['x-next-cursor', 'link'] } },
      errors: ['session_not_found', 'validation_failed'],
    },
    {
      method: 'post',
      path: '/sessions/{id}/messages',
      operationId: 'sendMessage',
      tag: 'Sessions',
      summary: 'Send a message: its turn runs on a worker',
      description:
        'Answers 202 at once; follow the turn with `GET /sessions/{id}?wait=true`, or a webhook. ' +
        'With `if_busy: "enqueue"` a busy session queues the message instead of answering 409; with `"interrupt"` it cancels ' +
        'the running turn and runs next. A `webhook` (`{url, secret?}`) is told when the turn ends; loopback and private ' +
        'addresses are refused (422) unless the server sets `WEBHOOK_ALLOW_PRIVATE=true` (development only).',
      body: 'MessageRequest',
      example: MESSAGE_EXAMPLE,
      replies: { 202: { description: 'Accepted: the turn will run', body: 'MessageAccepted', headers: ['location'] } },
      errors: ['session_not_found', 'session_running', 'session_paused', 'session_archived', 'message_limit_reached', 'storage_quota_exceeded', 'webhook_url_invalid', 'webhook_url_refused', 'replication_timeout'],
    },
    {
      method: 'get',
      path: '/sessions/{id}/events',
      operationId: 'streamEvents',
      tag: 'Sessions',
      summary: "The session's events as Server-Sent Events",
      description:
        'Events `status` `{status, turn_id}`, `delta` `{turn_id, content, offset}`, `message` `{turn_id, message}` (each message a turn ' +
        'records: tool calls, tool results, the reply), `interrupted` `{turn_id, interrupts}`, `error` `{turn_id, error}`, each with an increasing `id`, and `deleted` (then the stream ends). Without ' +
        '`Last-Event-ID` (header or `last_event_id`) it starts with a `status` snapshot; with one, with the events after it. ' +
        'Heartbeat comments keep idle streams open. A client that stops reading is closed after `SSE_WRITE_TIMEOUT_S`; ' +
        'it resumes with `Last-Event-ID`.',
      query: EventsQuery,
      replies: { 200: { description: 'An endless `text/event-stream`', body: 'event-stream' } },
      errors: ['session_not_found', 'too_many_waiters'],
    },
    {
      method: 'post',
      path: '/sessions/{id}/cancel',
      operationId: 'cancelTurn',
      tag: 'Sessions',
      summary: 'Cancel the running turn',
      description:
        'The turn ends with `error: "Turn cancelled"` (a `turn.cancelled` webhook); `cancelled_turn_id` is null when nothing ran. ' +
        'A turn waiting for a person (`interrupted`) ends at once.',
      replies: { 202: { description: 'Accepted: the running agent is told to abort', body: 'CancelAccepted', headers: ['location'] } },
      errors: ['session_not_found'],
    },
    {
      method: 'post',
      path: '/sessions/{id}/resume',
      operationId: 'resumeTurn',
      tag: 'Sessions',
      summary: 'Answer the interrupt an `interrupted` turn waits on: the turn goes on',
      description:
        'The value is stored with the interrupt and the turn is queued again (any worker continues it from its last recorded step; ' +
        'the agent gets `{interrupt, value}`). For `tool_approval` send `{approved, reason?}`.',
      body: 'ResumeRequest',
      example: RESUME_EXAMPLE,
      replies: { 200: { description: 'The turn runs again', body: 'ResumeAccepted' } },
      errors: ['session_not_found', 'interrupt_not_found', 'session_not_interrupted'],
    },
    {
      method: 'get',
      path: '/sessions/{id}/webhooks',
      operationId: 'listDeliveries',
      tag: 'Webhooks',
      summary: "The session's webhook deliveries and every attempt",
      replies: { 200: { description: 'Deliveries, oldest first', body: ['Delivery'] } },
      errors: ['session_not_found'],
    },
    {
      method: 'post',
      path: '/sessions/{id}/webhooks/{delivery_id}/redeliver',
      operationId: 'redeliver',
      tag: 'Webhooks',
      summary: 'Send a delivery again (same `webhook-id` and body)',
      description: 'Only a delivery that has ended (delivered, failed, dead); the retry schedule starts again.',
      replies: { 202: { description: 'Queued again', body: 'Delivery' } },
      errors: ['delivery_not_found', 'delivery_pending'],
    },
    {
      method: 'get',
      path: '/webhooks/dead-letters',
      operationId: 'listDeadLetters',
      tag: 'Webhooks',
      summary: 'Deliveries that used up the retry schedule, newest first',
      query: DeadLetterQuery,
      replies: { 200: { description: 'Dead letters', body: ['DeadLetter'] } },
    },
    {
      method: 'get',
      path: '/health',
      operationId: 'health',
      tag: 'Service',
      summary: 'Liveness',
      public: true,
      replies: { 200: { description: 'The process is up', body: 'Health' } },
    },
    {
      method: 'get',
      path: '/ready',
      operationId: 'ready',
      tag: 'Service',
      summary: 'Readiness: a worker is consuming jobs',
      description:
        'Puts a canary job on the `canary` queue (at most one per `READY_CANARY_INTERVAL_MS` per API process) and answers 200 ' +
        'when a worker answered one within `READY_MAX_AGE_MS`, waiting up to `READY_WAIT_MS` for it; 503 otherwise ' +
        '(`Retry-After: 1`). Point a readiness probe at it; `/health` is liveness only.',
      public: true,
      replies: {
        200: { description: 'A worker answered recently', body: 'Ready' },
        503: { description: 'No worker answered recently, or Redis is unreachable', body: 'NotReady', headers: ['retry-after'] },
      },
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      tag: 'Service',
      summary: 'Prometheus metrics of this API process',
      description:
        'Request latencies by route and status, queue depths, process metrics (Prometheus text format). Open when the server ' +
        'has no `ADMIN_KEY`; with one, it needs `Authorization: Bearer <ADMIN_KEY>` (or Basic auth with the key as password). ' +
        'Each worker serves its own on `METRICS_PORT`.',
      admin: true,
      replies: { 200: { description: 'Prometheus text exposition format', body: 'prometheus' } },
    },
    {
      method: 'get',
      path: '/openapi.json',
      operationId: 'openapi',
      tag: 'Service',
      summary: 'This document',
      public: true,
      replies: { 200: { description: 'OpenAPI 3.1', body: 'document' } },
    },
    {
      method: 'get',
      path: '/docs',
      operationId: 'docs',
      tag: 'Service',
      summary: 'Interactive API reference (HTML)',
      public: true,
      replies: { 200: { description: 'An HTML page that renders this document', body: 'html' } },
    },
    {
      method: 'get',
      path: '/console/',
      operationId: 'console',
      tag: 'Service',
      summary: 'Web console (HTML): sessions, live timelines, interrupts, webhook deliveries; `/console` redirects here',
      public: true,
      replies: { 200: { description: 'The console page; it signs in with an API key and calls this API', body: 'html' } },
    },
    {
      method: 'get',
      path: '/docs/surfaces/{page}',
      operationId: 'surfaceDocs',
      tag: 'Service',
      summary: 'How a compatible API maps onto Baton (Markdown)',
      public: true,
      replies: { 200: { description: 'The page from `docs/surfaces/`: Markdown, sent as `text/plain`', body: 'markdown' } },
    },
  ];
}

const PATH_PARAMS: Record<string, { description: string; schema: object }> = {
  id: {
    description: 'Session id, a UUID: the `session_id` that `POST /sessions` answered (with `PUT`, one of your choosing)',
    schema: { type: 'string', format: 'uuid' },
  },
  delivery_id: { description: 'Delivery id, from `GET /sessions/{id}/webhooks`', schema: { type: 'string', maxLength: 200 } },
  page: { description: 'A page of `docs/surfaces/`', schema: { type: 'string', enum: [...SURFACE_PAGES], example: SURFACE_PAGES[0] } },
};

const HEADERS: Record<Header, { description: string; schema: object }> = {
  location: { description: 'The session: `/sessions/{id}`', schema: { type: 'string' } },
  'x-next-cursor': { description: 'The next page\'s `cursor` (absent on the last page)', schema: { type: 'string' } },
  link: { description: '`</sessions?limit=…&cursor=…>; rel="next"` (absent on the last page)', schema: { type: 'string' } },
  'retry-after': { description: 'Seconds to wait before retrying', schema: { type: 'string' } },
};

const DESCRIPTION = `Baton runs AI-agent conversations asynchronously: send a message to a session, get \`202 Accepted\`
at once, and follow the turn by long-polling (\`GET /sessions/{id}?wait=true\`) or a webhook.

This document covers Baton's **native API** (the Motus serve API shapes plus Baton's additions). Bodies are JSON.
Every error answers \`{"error": {"code", "message", "details"?}}\`; an unknown path answers 404
\`route_not_found\`, a known path with another method 405 \`method_not_allowed\` (\`Allow\` lists the right ones).

**Auth**: when the server sets \`API_KEYS\`, every route needs \`Authorization: Bearer <key>\` (401 \`unauthorized\`
otherwise) except \`/health\`, \`/ready\`, \`/openapi.json\`, \`/docs\` and the console's page and files (\`/console/\`), which
are public; \`/metrics\` takes the \`ADMIN_KEY\` when the server sets one. Without \`API_KEYS\` auth is off.

**Compatible APIs** served from the same sessions, each with its own key header and error shape (not in this
document; see the repository's docs):
- OpenHands agent server and 0.53: \`/api/conversations…\` — [docs/surfaces/openhands.md](/docs/surfaces/openhands.md)
- OpenHands V1 app server: \`/api/v1/app-conversations…\`, \`/api/v1/sandboxes…\` — [docs/surfaces/openhands-v1.md](/docs/surfaces/openhands-v1.md)
- agenhq: \`/api/v1/sessions…\` — [docs/surfaces/agenhq.md](/docs/surfaces/agenhq.md)

**Trying it out**: \`POST /sessions\` first; paste the \`session_id\` it answers into the other operations' \`id\`.
Webhooks to loopback or private addresses are refused unless the server sets \`WEBHOOK_ALLOW_PRIVATE=true\`
(development only).`;

export type OpenApiDocument = {
  openapi: '3.1.0';
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> } & Record<string, unknown>;
} & Record<string, unknown>;
type JsonSchema = Record<string, unknown>;
interface Operation {
  operationId: string;
  responses: Record<string, { description: string; content?: Record<string, { schema: JsonSchema }> }>;
  [key: string]: unknown;
}

/** The OpenAPI 3.1 document of the native API. Pure: same options, same document. */
export function openApiDocument(options: OpenApiOptions): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of nativeRoutes(options)) {
    (paths[route.path] ??= {})[route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Baton API', version: options.version ?? '0.1.0', description: DESCRIPTION },
    servers: [{ url: '/' }],
    tags: [
      { name: 'Sessions', description: 'Sessions, messages and turns' },
      { name: 'Webhooks', description: 'The webhook delivery log, dead letters and redelivery' },
      { name: 'Service', description: 'Health, readiness, metrics and this reference' },
    ],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: { ...componentSchemas(RESPONSE_SCHEMAS, 'output'), ...componentSchemas(REQUEST_SCHEMAS, 'input') },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'One of the server\'s `API_KEYS` (each key is a tenant). Not needed when `API_KEYS` is unset.',
        },
        admin: {
          type: 'http',
          scheme: 'bearer',
          description: 'The server\'s `ADMIN_KEY` (`/metrics`); not needed when `ADMIN_KEY` is unset.',
        },
      },
    },
  };
}

/** Every POST takes one (IETF httpapi idempotency-key draft). */
const IDEMPOTENCY_KEY_PARAM = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retry safe: the same key with the same request replays the first response (`Idempotent-Replayed: true`) and runs nothing; ' +
    'kept `IDEMPOTENCY_TTL_S` (24 h) per API key. A message\'s turn (and a new session\'s id) is recorded under the key as it is stored, ' +
    'so a retry after a lost answer (a 5xx, a dropped connection) gets the stored turn or session instead of a second one.',
  schema: { type: 'string', minLength: 1, maxLength: 255 },
};

function operation(route: RouteDoc): Operation {
  const params: Record<string, unknown>[] = [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => {
    const param = PATH_PARAMS[name as string];
    if (!param) throw new Error(`openapi: no description of path parameter ${name}`);
    return { name, in: 'path', required: true, ...param };
  });
  if (route.query) params.push(...queryParams(route.query));
  if (route.method === 'post') params.push(IDEMPOTENCY_KEY_PARAM);
  const op: Operation = {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    ...(route.public ? { security: [] } : route.admin ? { security: [{}, { admin: [] }] } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: false,
            content: { 'application/json': { schema: ref(route.body), ...(route.example ? { example: route.example } : {}) } },
          },
        }
      : {}),
    responses: {},
  };
  for (const [status, reply] of Object.entries(route.replies)) op.responses[status] = response(reply);
  for (const [status, codes] of errorsByStatus(route)) {
    op.responses[status] = {
      description: codes.map((code) => `\`${code}\`: ${ERROR_CODES[code].when}`).join('; '),
      ...(status === 503 || status === 429 ? { headers: headers(['retry-after']) } : {}),
      content: {
        'application/json': {
          schema: {
            allOf: [
              ref('ErrorBody'),
              { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string', enum: codes } } } } },
            ],
          },
        },
      },
    };
  }
  return op;
}

function errorsByStatus(route: RouteDoc): Map<number, ErrorCode[]> {
  const codes = new Set<ErrorCode>(route.errors ?? []);
  if (route.body) for (const code of ['invalid_json', 'payload_too_large', 'unsupported_media_type', 'validation_failed'] as const) codes.add(code);
  if (route.query) codes.add('validation_failed');
  if (route.admin) codes.add('unauthorized');
  else if (!route.public) {
    codes.add('unauthorized');
    codes.add('rate_limited');
    codes.add('service_unavailable');
  }
  if (route.method === 'post') for (const code of ['idempotency_key_invalid', 'idempotency_key_in_flight', 'idempotency_key_reused'] as const) codes.add(code);
  if (!route.public && (route.method === 'post' || route.method === 'put')) codes.add('storage_full');
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    if (!codes.has(code)) continue;
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return new Map([...byStatus].sort(([a], [b]) => a - b));
}

function response(reply: Reply): Operation['responses'][string] {
  const out: Operation['responses'][string] & { headers?: object } = { description: reply.description };
  if (reply.headers) out.headers = headers(reply.headers);
  if (reply.body === 'html') out.content = { 'text/html': { schema: { type: 'string' } } };
  else if (reply.body === 'event-stream') out.content = { 'text/event-stream': { schema: { type: 'string' } } };
  // Markdown goes out as text/plain, which every browser shows rather than downloads.
  else if (reply.body === 'markdown' || reply.body === 'prometheus') out.content = { 'text/plain': { schema: { type: 'string' } } };
  else if (reply.body === 'document') out.content = { 'application/json': { schema: { type: 'object', description: 'OpenAPI 3.1' } } };
  else if (typeof reply.body === 'string') out.content = { 'application/json': { schema: ref(reply.body) } };
  else if (reply.body) out.content = { 'application/json': { schema: { type: 'array', items: ref(reply.body[0]) } } };
  return out;
}

function headers(names: Header[]): Record<string, { description: string; schema: object }> {
  return Object.fromEntries(names.map((name) => [name, HEADERS[name]]));
}

function ref(name: string): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}

function queryParams(query: z.ZodObject) {
  const schema = z.toJSONSchema(query, { io: 'input' }) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, { description, ...property }]) => ({
    name,
    in: 'query',
    required: schema.required?.includes(name) ?? false,
    ...(typeof description === 'string' ? { description } : {}),
    schema: property,
  }));
}

/** zod schemas → named components that `$ref` each other; `$id`/`$schema` dropped (they belong to the document). */
function componentSchemas(schemas: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const { schemas: out } = z.toJSONSchema(registry, { io, uri: (id) => `#/components/schemas/${id}` });
  return Object.fromEntries(
    Object.entries(out).map(([id, { $id: _id, $schema: _schema, ...schema }]) => [id, schema as JsonSchema]),
  );
}
