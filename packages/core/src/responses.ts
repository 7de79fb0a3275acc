import { z } from 'zod';
import { AGENT_NAMES, ChatMessage, InterruptInfo, SESSION_STATUSES, TURN_EVENT_TYPES } from './schemas.ts';

/**
 * The native API's response bodies. The routes build their bodies typed by these
 * (`z.infer`) and `openapi.ts` documents them, so the spec and the code cannot drift;
 * `test/openapi.test.ts` validates real responses against the generated document.
 */

const Timestamp = z.iso.datetime().describe('ISO 8601, UTC');
/** Any 8-4-4-4-12 hex id (PUT accepts any such UUID). */
const Id = z.guid();

/** Motus `SessionResponse`, plus Baton's extra fields (clients ignore what they don't know). */
export const SessionResponse = z.strictObject({
  session_id: Id,
  status: z
    .enum(SESSION_STATUSES)
    .describe('`running` while a turn runs; `interrupted` while it waits for a person (see `interrupts`); `error` when the last turn failed'),
  response: ChatMessage.nullable().describe("The last turn's reply, or null"),
  error: z.string().nullable().describe('Why the last turn failed, or null'),
  agent: z.string().describe(`The session's agent: a built-in one (${AGENT_NAMES.join(', ')}) or one of the server's AGENTS_MODULE`),
  total_messages: z.int().min(0),
  pending_messages: z.int().min(0).describe('Messages waiting in the inbox (`if_busy: "enqueue"`)'),
  interrupts: z
    .array(InterruptInfo)
    .optional()
    .describe('Only while `interrupted`: what the turn waits for; answer with `POST /sessions/{id}/resume`'),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type SessionResponse = z.infer<typeof SessionResponse>;

/** One entry of `GET /sessions`. */
export const SessionListItem = z.strictObject({
  session_id: Id,
  total_messages: z.int().min(0),
  status: z.enum(SESSION_STATUSES),
  agent: z.string().describe(`The session's agent: ${AGENT_NAMES.join(', ')}`),
  created_at: Timestamp,
  updated_at: Timestamp.describe('When the session last changed (a turn started or ended, a message was added)'),
});
export type SessionListItem = z.infer<typeof SessionListItem>;

/** The 202 body of `POST /sessions/{id}/messages`. */
export const MessageAccepted = z.strictObject({
  session_id: Id,
  status: z.literal('running'),
  turn_id: Id.describe('The turn this message runs in (or will run in, when queued)'),
  queued: z.boolean().describe('True when the message waits in the inbox behind the running turn'),
  cancelled_turn_id: Id.optional().describe('With `if_busy: "interrupt"`: the running turn it cancelled'),
});
export type MessageAccepted = z.infer<typeof MessageAccepted>;

/** The 200 body of `POST /sessions/{id}/resume`. */
export const ResumeAccepted = z.strictObject({
  session_id: Id,
  status: z.enum(SESSION_STATUSES).describe('`running`: the turn goes on, on any worker'),
});
export type ResumeAccepted = z.infer<typeof ResumeAccepted>;

/** The 202 body of `POST /sessions/{id}/cancel`. */
export const CancelAccepted = z.strictObject({
  session_id: Id,
  cancelled_turn_id: Id.nullable().describe('The turn being cancelled; null when nothing ran'),
});
export type CancelAccepted = z.infer<typeof CancelAccepted>;

export const DeliveryAttempt = z.strictObject({
  at: Timestamp,
  status_code: z.int().nullable().describe("The receiver's HTTP status; null when no answer came"),
  latency_ms: z.number().min(0),
  error: z.string().nullable(),
});
export type DeliveryAttempt = z.infer<typeof DeliveryAttempt>;

/** One turn-end event on its way to one endpoint, with every attempt made (no body, token or secret). */
export const Delivery = z.strictObject({
  id: z.string(),
  webhook_id: z.string().describe('The Standard Webhooks `webhook-id`, the same on every attempt and redelivery'),
  session_id: Id,
  turn_id: Id,
  type: z.enum(TURN_EVENT_TYPES),
  target: z.enum(['message', 'session', 'server']).describe("Whose webhook: the message's, the session's default, or WEBHOOK_ENDPOINTS"),
  url: z.string(),
  status: z.enum(['pending', 'delivered', 'failed', 'dead']),
  attempts: z.array(DeliveryAttempt),
  redeliveries: z.int().min(0),
  next_attempt_at: Timestamp.nullable(),
  created_at: Timestamp,
});
export type Delivery = z.infer<typeof Delivery>;

/** A delivery that used up the retry schedule. */
export const DeadLetter = Delivery.extend({ dead_at: Timestamp });
export type DeadLetter = z.infer<typeof DeadLetter>;

const FieldIssueBody = z.strictObject({
  path: z.string().describe('Dotted path of the field, e.g. `body.webhook.url`'),
  message: z.string(),
});

/** The one error body of the native API. */
export const ErrorBody = z.strictObject({
  error: z.strictObject({
    code: z.string().describe('Stable, machine-readable: `session_not_found`, `validation_failed`…'),
    message: z.string(),
    details: z.array(FieldIssueBody).optional().describe('One entry per invalid field (422)'),
  }),
  detail: z
    .string()
    .describe('The message as FastAPI (the Motus server) words it, for Motus clients: `Session not found`, `Session is running`…'),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const Health = z.strictObject({ status: z.literal('ok') });
export type Health = z.infer<typeof Health>;

/** `GET /ready` 200: a worker answered a readiness canary recently. */
/** Jobs per queue (`turns`, `webhooks`) and state (`waiting`, `active`, `failed`, `delayed`); null when Redis did not answer. */
const QueueDepth = z
  .record(z.string(), z.record(z.string(), z.int().min(0)))
  .nullable()
  .describe('Jobs per queue and state (summed over shards), cached 2 s; null when Redis did not answer');

export const Ready = z.strictObject({
  status: z.literal('ready'),
  worker_seen_ms_ago: z.number().min(0).describe("How long ago a worker last answered a canary (Redis's clock)"),
  queues: QueueDepth,
});
export type Ready = z.infer<typeof Ready>;

/** `GET /ready` 503: no worker answered recently, or Redis is unreachable. */
export const NotReady = z.strictObject({
  status: z.literal('not_ready'),
  reason: z.enum(['no_worker', 'redis_unavailable']),
  message: z.string(),
  worker_seen_ms_ago: z.number().min(0).nullable().describe('null when no worker has ever answered, or Redis is unreachable'),
  queues: QueueDepth,
});
export type NotReady = z.infer<typeof NotReady>;

/** True when A and B are the same type (for compile-time checks that two declarations agree). */
export type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
