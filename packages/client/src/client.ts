import { BatonError, connectionError, errorFromResponse, isAbort } from './errors.ts';
import { streamEvents, type StreamOptions } from './stream.ts';
import type {
  CancelResult,
  ChatMessage,
  CreateSessionOptions,
  Delivery,
  MessageAccepted,
  MessageInput,
  ResumeResult,
  SessionPage,
  SessionResponse,
  SessionSummary,
  StreamEvent,
} from './types.ts';

export interface BatonClientOptions {
  /** Where the API is, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` when the server has `API_KEYS`. */
  apiKey?: string;
  /** Defaults to the global `fetch`. */
  fetch?: typeof globalThis.fetch;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface SendOptions extends CallOptions {
  /**
   * `reject` (default): `409 session_running` while a turn runs; `enqueue`: wait in the inbox;
   * `interrupt`: cancel the running turn and run next.
   */
  ifBusy?: 'reject' | 'enqueue' | 'interrupt';
  webhook?: MessageInput['webhook'];
  /**
   * Sent as `Idempotency-Key`: a try under it that Baton already stored is answered with
   * the turn it started, never a second one. Default: a new random key for this call, used by
   * its own retries; pass your own to retry later yourself.
   */
  idempotencyKey?: string;
  /**
   * How many more tries (default 2) when a try got no answer, a `503 service_unavailable`, a `503 storage_full`, a `503 replication_timeout` or
   * `409 idempotency_key_in_flight`, each after the answer's `Retry-After` (else 0.2 s, 0.4 s…).
   */
  retries?: number;
}

/** Worth trying again under the same Idempotency-Key: the first try may or may not have been stored. */
function retriable(err: unknown): err is BatonError {
  return err instanceof BatonError && (err.status === 0 || err.code === 'service_unavailable' || err.code === 'storage_full' || err.code === 'replication_timeout' || err.code === 'idempotency_key_in_flight');
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface ResumeOptions extends CallOptions {
  /** The interrupt answered: an `interrupt_id` of the session's `interrupts`. */
  interruptId: string;
  /** The answer: for `tool_approval`, `{approved: boolean, reason?: string}`; for `user_input`, any JSON value. */
  value: unknown;
  /** Sent as `Idempotency-Key` (default: a new random key, used by this call's own retries). */
  idempotencyKey?: string;
  /** Tries after no answer, a `503` or `409 idempotency_key_in_flight` (default 2), as `sendMessage`. */
  retries?: number;
}

export interface WaitOptions extends CallOptions {
  /** Overall limit in seconds (default 300); at the end the session is returned as it is (maybe `running`). */
  timeoutS?: number;
  /** Longest single long-poll in seconds (default 30; the server caps it at `LONG_POLL_MAX_S`). */
  pollS?: number;
}

interface Call {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** A typed client for Baton's native API. Every failure is a BatonError. */
export class BatonClient {
  readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly fetchFn: typeof globalThis.fetch;

  constructor(options: BatonClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** `POST /sessions` (or `PUT /sessions/{id}` with `sessionId`). */
  async createSession(options: CreateSessionOptions = {}, call: CallOptions = {}): Promise<SessionResponse> {
    const { sessionId, ...body } = options;
    const res =
      sessionId === undefined
        ? await this.json<SessionResponse>({ method: 'POST', path: '/sessions', body, signal: call.signal })
        : await this.json<SessionResponse>({ method: 'PUT', path: sessionPath(sessionId), body, signal: call.signal });
    return res.body;
  }

  async getSession(id: string, call: CallOptions = {}): Promise<SessionResponse> {
    return (await this.json<SessionResponse>({ method: 'GET', path: sessionPath(id), signal: call.signal })).body;
  }

  /** One page of sessions, oldest first; `nextCursor` comes from the `X-Next-Cursor` header. */
  async listSessions(options: { limit?: number; cursor?: string | null } & CallOptions = {}): Promise<SessionPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor) query.set('cursor', options.cursor);
    const qs = query.size > 0 ? `?${query}` : '';
    const res = await this.json<SessionSummary[]>({ method: 'GET', path: `/sessions${qs}`, signal: options.signal });
    return { items: res.body, nextCursor: res.headers.get('x-next-cursor') };
  }

  /** Every session, page by page. */
  async *allSessions(options: { pageSize?: number } & CallOptions = {}): AsyncGenerator<SessionSummary> {
    let cursor: string | null = null;
    do {
      const page: SessionPage = await this.listSessions({ limit: options.pageSize ?? 100, cursor, signal: options.signal });
      yield* page.items;
      cursor = page.nextCursor;
    } while (cursor);
  }

  /**
   * `POST /sessions/{id}/messages`: `202` at once; the turn runs on a worker. Sent under an
   * `Idempotency-Key` and tried again when the answer is lost or Baton is briefly
   * unavailable, so the message is stored once (see `SendOptions`).
   */
  async sendMessage(id: string, message: MessageInput | string, options: SendOptions = {}): Promise<MessageAccepted> {
    const body: MessageInput = typeof message === 'string' ? { content: message } : { ...message };
    if (options.ifBusy !== undefined) body.if_busy = options.ifBusy;
    if (options.webhook !== undefined) body.webhook = options.webhook;
    return this.postOnce<MessageAccepted>(`${sessionPath(id)}/messages`, body, options);
  }

  /**
   * `POST /sessions/{id}/resume`: answers an interrupt of an `interrupted` session, and its
   * turn goes on (follow it with `waitForTurn`). `409 session_not_interrupted` when the
   * session is not waiting; `404 interrupt_not_found` for an unknown `interruptId`. Sent
   * under an `Idempotency-Key` and retried as `sendMessage` is.
   */
  async resume(id: string, options: ResumeOptions): Promise<ResumeResult> {
    const body = { interrupt_id: options.interruptId, value: options.value };
    return this.postOnce<ResumeResult>(`${sessionPath(id)}/resume`, body, options);
  }

  /**
   * POSTs under an Idempotency-Key and tries again, under the same key, when the answer
   * was lost or Baton was briefly unavailable: the request takes effect once.
   */
  private async postOnce<T>(
    path: string,
    body: unknown,
    options: CallOptions & { idempotencyKey?: string; retries?: number },
  ): Promise<T> {
    const headers = { 'idempotency-key': options.idempotencyKey ?? globalThis.crypto.randomUUID() };
    const retries = options.retries ?? 2;
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.json<T>({ method: 'POST', path, body, headers, signal: options.signal })).body;
      } catch (err) {
        if (attempt >= retries || !retriable(err)) throw err;
        await pause(err.retryAfterS !== undefined ? err.retryAfterS * 1000 : 200 * 2 ** attempt, options.signal);
      }
    }
  }

  /**
   * Long-polls `GET /sessions/{id}?wait=true` until the turn ends or stops for a person:
   * status `idle`, `error` or `interrupted` (then `interrupts` says what it waits for; answer
   * with `resume`). After `timeoutS` it answers the session as it is, still `running`.
   */
  async waitForTurn(id: string, options: WaitOptions = {}): Promise<SessionResponse> {
    const deadline = Date.now() + (options.timeoutS ?? 300) * 1000;
    const pollS = options.pollS ?? 30;
    for (;;) {
      const leftS = Math.max(0, (deadline - Date.now()) / 1000);
      const timeout = Math.min(pollS, leftS).toFixed(3).replace(/\.?0+$/, '');
      const res = await this.json<SessionResponse>({
        method: 'GET',
        path: `${sessionPath(id)}?wait=true&timeout=${timeout}`,
        signal: options.signal,
      });
      // Every status but `running` ends the wait: `idle`, `error`, and `interrupted` (a person must answer).
      if (res.body.status !== 'running' || Date.now() >= deadline) return res.body;
    }
  }

  /** The history, oldest first. */
  async messages(id: string, call: CallOptions = {}): Promise<ChatMessage[]> {
    return (await this.json<ChatMessage[]>({ method: 'GET', path: `${sessionPath(id)}/messages`, signal: call.signal })).body;
  }

  /** Aborts the running turn; the session becomes `idle` with `error: "Turn cancelled"`. */
  async cancel(id: string, call: CallOptions = {}): Promise<CancelResult> {
    return (await this.json<CancelResult>({ method: 'POST', path: `${sessionPath(id)}/cancel`, signal: call.signal })).body;
  }

  async deleteSession(id: string, call: CallOptions = {}): Promise<void> {
    await this.json({ method: 'DELETE', path: sessionPath(id), signal: call.signal });
  }

  /** The session's webhook delivery log, every attempt included. */
  async deliveries(id: string, call: CallOptions = {}): Promise<Delivery[]> {
    return (await this.json<Delivery[]>({ method: 'GET', path: `${sessionPath(id)}/webhooks`, signal: call.signal })).body;
  }

  /** Sends a delivery again (same `webhook-id`); `409 delivery_pending` while it is still being attempted. */
  async redeliver(id: string, deliveryId: string, call: CallOptions = {}): Promise<Delivery> {
    const path = `${sessionPath(id)}/webhooks/${encodeURIComponent(deliveryId)}/redeliver`;
    return (await this.json<Delivery>({ method: 'POST', path, signal: call.signal })).body;
  }

  /**
   * The session's events (`GET /sessions/{id}/events`, server-sent events) as they happen.
   * A dropped connection is reopened with `Last-Event-ID`, so no event is lost or repeated;
   * the iteration ends after a `deleted` event, when `signal` aborts, or when you `break`.
   */
  stream(id: string, options: StreamOptions = {}): AsyncGenerator<StreamEvent> {
    return streamEvents({
      url: `${this.baseUrl}${sessionPath(id)}/events`,
      fetch: this.fetchFn,
      headers: this.authHeaders(),
      options,
    });
  }

  private authHeaders(): Record<string, string> {
    return this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {};
  }

  /** Sends one request; answers the parsed JSON body of a 2xx, throws a BatonError otherwise. */
  private async json<T = unknown>(call: Call): Promise<{ status: number; headers: Headers; body: T }> {
    const headers: Record<string, string> = { accept: 'application/json', ...this.authHeaders(), ...call.headers };
    const init: RequestInit = { method: call.method, headers };
    if (call.signal) init.signal = call.signal;
    if (call.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(call.body);
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.baseUrl + call.path, init);
    } catch (err) {
      if (isAbort(err, call.signal)) throw err;
      throw connectionError(this.baseUrl, err);
    }
    if (!res.ok) throw await errorFromResponse(res);
    const text = await res.text();
    if (text === '') return { status: res.status, headers: res.headers, body: undefined as T };
    try {
      return { status: res.status, headers: res.headers, body: JSON.parse(text) as T };
    } catch {
      throw new BatonError(res.status, 'invalid_response', `Expected JSON from ${call.method} ${call.path}, got: ${text.slice(0, 200)}`);
    }
  }
}

function sessionPath(id: string): string {
  return `/sessions/${encodeURIComponent(id)}`;
}
