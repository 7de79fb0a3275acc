import { DeadLetter, CancelAccepted, Delivery, DeliveryAttempt, ErrorBody, Health, MessageAccepted, NotReady, Ready, ResumeAccepted, SessionListItem, SessionResponse } from './responses.ts';
import { ChatMessage, CreateSessionRequest, InterruptInfo, MessageRequest, ResumeRequest, ToolCall, WebhookSpec } from './schemas.ts';

/**
 * What the native API's OpenAPI document names: its schema components (from the zod schemas
 * the routes validate and answer with) and its error codes.
 */

/** Response bodies, by component name (io: output: what the server sends). */
export const RESPONSE_SCHEMAS = {
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
export const REQUEST_SCHEMAS = {
  CreateSessionRequest,
  MessageRequest,
  ResumeRequest,
  WebhookSpec,
  ChatMessageInput: ChatMessage,
  ToolCallInput: ToolCall,
};
export type ResponseName = keyof typeof RESPONSE_SCHEMAS;
export type RequestName = 'CreateSessionRequest' | 'MessageRequest' | 'ResumeRequest';

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
