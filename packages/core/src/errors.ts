/**
 * Errors that cross a boundary carry a stable machine-readable `code` and the HTTP
 * `status` the API answers with. Routes never build error bodies themselves: one
 * middleware maps every AppError to `{error: {code, message, details?}}`.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { details?: unknown; cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `body.webhook.url`. */
  path: string;
  message: string;
}

export class ValidationError extends AppError {
  constructor(issues: FieldIssue[]) {
    const first = issues[0];
    const summary = first ? `${first.path}: ${first.message}` : 'invalid request';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(422, 'validation_failed', `Invalid request: ${summary}${more}`, { details: issues });
  }
}

export class SessionNotFoundError extends AppError {
  constructor(sessionId: string) {
    super(404, 'session_not_found', `Session ${JSON.stringify(sessionId)} not found`);
  }
}

/** A message with `if_busy: "reject"` while a turn runs, or waits for a person (`interrupted`). */
export class SessionBusyError extends AppError {
  constructor(status = 'running') {
    super(
      409,
      'session_running',
      `Session is ${status}; send with if_busy: "enqueue" to queue the message after this turn, or "interrupt" to cancel the turn and run it next`,
    );
  }
}

export class SessionExistsError extends AppError {
  constructor(sessionId: string) {
    super(409, 'session_exists', `Session ${sessionId} already exists`);
  }
}

export class SessionLimitError extends AppError {
  constructor(limit: number) {
    super(503, 'session_limit_reached', `The server holds its maximum of ${limit} sessions; delete some first`);
  }
}

/**
 * A tenant (API key) holds its `TENANT_MAX_SESSIONS`: a refusal that lasts until it deletes
 * sessions, so 403 (not 429: waiting does not help, and clients retry a 429).
 */
export class SessionQuotaError extends AppError {
  constructor(limit: number) {
    super(403, 'session_quota_exceeded', `This API key holds its quota of ${limit} sessions (TENANT_MAX_SESSIONS); delete some first`);
  }
}

/** A tenant's sessions hold its `TENANT_MAX_BYTES` of messages: refused until it deletes sessions. */
export class StorageQuotaError extends AppError {
  constructor(limit: number) {
    super(403, 'storage_quota_exceeded', `This API key's sessions hold its quota of ${limit} bytes of messages (TENANT_MAX_BYTES); delete sessions first`);
  }
}

export class MessageLimitError extends AppError {
  constructor() {
    super(409, 'message_limit_reached', 'The session holds its maximum number of messages (MAX_MESSAGES_PER_SESSION); start a new session');
  }
}

/** An `Idempotency-Key` sent again with a different request (method, path or body). */
export class IdempotencyKeyReusedError extends AppError {
  constructor() {
    super(422, 'idempotency_key_reused', 'headers.idempotency-key: this key was used with a different request (method, path or body)', {
      details: [{ path: 'headers.idempotency-key', message: 'used with a different request' }],
    });
  }
}

/** Too many requests for one API key (`RATE_LIMIT_PER_S`). */
export class RateLimitedError extends AppError {
  constructor(retryAfterMs: number) {
    super(429, 'rate_limited', 'Too many requests for this API key; slow down', {
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
    });
  }
}

/** Every waiter slot of this API process (long-polls and event streams) is taken (`MAX_WAITERS`). */
export class TooManyWaitersError extends AppError {
  constructor(limit: number) {
    super(503, 'too_many_waiters', `This server holds its maximum of ${limit} long-polls and event streams (MAX_WAITERS); retry shortly or poll without wait`, {
      headers: { 'retry-after': '1' },
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, cause?: unknown) {
    super(503, 'service_unavailable', message, { cause, headers: { 'retry-after': '1' } });
  }
}

/** Seconds a client is told to wait when Redis is full: memory comes back by expiry or an operator, not at once. */
export const STORAGE_FULL_RETRY_AFTER_S = 5;

/**
 * Redis refused a write because it is at `maxmemory` (`noeviction`): nothing of the
 * request was stored (each script is refused before its first write). Retry later.
 */
export class StorageFullError extends AppError {
  constructor(cause?: unknown) {
    super(503, 'storage_full', 'The session store is full (Redis is at maxmemory); nothing was stored: retry later', {
      cause,
      headers: { 'retry-after': String(STORAGE_FULL_RETRY_AFTER_S) },
    });
  }
}

/**
 * `REDIS_WAIT_REPLICAS`: fewer replicas than asked acknowledged the accepting write within
 * `REDIS_WAIT_TIMEOUT_MS`. The write is on the master (a failover may lose it): retry under
 * the same Idempotency-Key, which answers the same turn or session once it is replicated.
 */
export class ReplicationTimeoutError extends AppError {
  constructor(acked: number, wanted: number, timeoutMs: number) {
    super(
      503,
      'replication_timeout',
      `The write reached Redis but ${acked} of ${wanted} replicas acknowledged it within ${timeoutMs} ms (REDIS_WAIT_REPLICAS); ` +
        'retry with the same Idempotency-Key to get the same result once it is replicated',
      { headers: { 'retry-after': '1' } },
    );
  }
}

/** A webhook URL that is malformed or points where Baton will not send (422, before anything is queued). */
/** How to allow a refused (loopback, private…) webhook target, for development only. */
export const ALLOW_PRIVATE_HINT =
  'refused to protect internal services; for local development set WEBHOOK_ALLOW_PRIVATE=true on the API and workers';

export class WebhookUrlError extends AppError {
  constructor(code: 'webhook_url_invalid' | 'webhook_url_refused', path: string, reason: string) {
    const hint = code === 'webhook_url_refused' ? ` (${ALLOW_PRIVATE_HINT})` : '';
    super(422, code, `${path}: ${reason}${hint}`, { details: [{ path, message: reason }] });
  }
}

export class DeliveryNotFoundError extends AppError {
  constructor(deliveryId: string) {
    super(404, 'delivery_not_found', `Webhook delivery ${JSON.stringify(deliveryId)} not found`);
  }
}

export class DeliveryPendingError extends AppError {
  constructor() {
    super(409, 'delivery_pending', 'The delivery is still being attempted; redeliver it once it has ended');
  }
}

export class SessionPausedError extends AppError {
  constructor() {
    super(409, 'session_paused', 'Session is paused; resume it first');
  }
}

export class SessionArchivedError extends AppError {
  constructor() {
    super(410, 'session_archived', 'Session is archived (read-only)');
  }
}

/** `POST /sessions/{id}/resume` on a session that waits for nobody. */
export class SessionNotInterruptedError extends AppError {
  constructor(status: string) {
    super(409, 'session_not_interrupted', `Session is ${status}, not interrupted`);
  }
}

export class InterruptNotFoundError extends AppError {
  constructor(interruptId: string) {
    super(404, 'interrupt_not_found', `Interrupt ${JSON.stringify(interruptId)} not found: the session waits on another one`);
  }
}
