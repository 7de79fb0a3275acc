import type { z } from 'zod';
import { CREATE_SESSION_EXAMPLE, MESSAGE_EXAMPLE, RESUME_EXAMPLE } from './openapi-examples.ts';
import type { ErrorCode, RequestName, ResponseName } from './openapi-components.ts';
import { DeadLetterQuery, EventsQuery, LIST_ALL_MAX, ListQuery, MessagesQuery, WaitQuery } from './queries.ts';

/** The native API's operations, one entry each: what `openapi.ts` turns into the document. */


export type Header = 'location' | 'x-next-cursor' | 'link' | 'retry-after';

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

