import { BatonError, connectionError, errorFromResponse, isAbort } from './errors.ts';
import { SseParser, type SseEvent } from './sse.ts';
import type { StreamEvent } from './types.ts';

export interface StreamOptions {
  /** Resume after this event id (sent as `Last-Event-ID`). */
  lastEventId?: string | null;
  /** Ends the iteration (quietly) when aborted. */
  signal?: AbortSignal;
  /** Delay before reconnecting, unless the server sent `retry:`; default 1000 ms. */
  reconnectDelayMs?: number;
  /** Consecutive failed connection attempts before giving up; default 5. */
  maxRetries?: number;
  /** Called each time a connection is open (the first one and every reconnect). */
  onOpen?: () => void;
}

/** Statuses worth another try: the server or a proxy in front of it is momentarily unavailable. */
const RETRY_STATUSES = new Set([502, 503, 504]);

/**
 * Reads `url` as server-sent events with fetch's body reader, reconnecting with
 * `Last-Event-ID` when the connection drops. A non-2xx answer other than 502/503/504
 * (e.g. `404 session_not_found`) ends it with a BatonError; so does an answer that is
 * not `text/event-stream` (code `not_event_stream`).
 */
export async function* streamEvents(input: {
  url: string;
  fetch: typeof globalThis.fetch;
  headers: Record<string, string>;
  options: StreamOptions;
}): AsyncGenerator<StreamEvent> {
  const { options } = input;
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) return;
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;

  let lastEventId = options.lastEventId ?? null;
  let delayMs = options.reconnectDelayMs ?? 1000;
  const maxRetries = options.maxRetries ?? 5;
  let failures = 0;
  let lastFailure: BatonError | null = null;

  try {
    for (;;) {
      if (failures > 0) {
        if (failures > maxRetries) throw lastFailure ?? new BatonError(0, 'connection_failed', `Stream ${input.url} failed`);
        if (!(await pause(delayMs, signal))) return;
      }
      const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache', ...input.headers };
      if (lastEventId !== null) headers['last-event-id'] = lastEventId;

      let res: Response;
      try {
        res = await input.fetch(input.url, { headers, signal });
      } catch (err) {
        if (signal.aborted || isAbort(err)) return;
        failures++;
        lastFailure = connectionError(new URL(input.url).origin, err);
        continue;
      }
      if (!res.ok) {
        const error = await errorFromResponse(res);
        if (!RETRY_STATUSES.has(res.status)) throw error;
        failures++;
        lastFailure = error;
        continue;
      }
      const type = res.headers.get('content-type') ?? '';
      if (!type.startsWith('text/event-stream') || !res.body) {
        await res.body?.cancel().catch(() => {});
        throw new BatonError(res.status, 'not_event_stream', `Expected text/event-stream from ${input.url}, got ${type || 'no content type'}`);
      }

      failures = 0;
      options.onOpen?.();
      const parser = new SseParser(lastEventId);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (err) {
            if (signal.aborted) return;
            lastFailure = connectionError(new URL(input.url).origin, err);
            break; // dropped: reconnect
          }
          if (chunk.done) break; // the server closed it: reconnect, as EventSource does
          for (const raw of parser.push(decoder.decode(chunk.value, { stream: true }))) {
            lastEventId = raw.id;
            const event = toStreamEvent(raw);
            if (!event) continue;
            yield event;
            if (event.event === 'deleted') return;
          }
          if (parser.retry !== null) delayMs = parser.retry;
        }
      } finally {
        parser.end();
        reader.cancel().catch(() => {});
      }
      if (parser.retry !== null) delayMs = parser.retry;
      // Not a failed attempt: the connection was open. Wait once, then reconnect.
      if (!(await pause(delayMs, signal))) return;
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    controller.abort();
  }
}

const EVENT_TYPES = new Set(['status', 'delta', 'message', 'interrupted', 'error', 'deleted']);

/** The typed event, or null for an event type this client does not know (skipped) or data that is not JSON. */
function toStreamEvent(raw: SseEvent): StreamEvent | null {
  if (!EVENT_TYPES.has(raw.event)) return null;
  let data: unknown;
  try {
    data = JSON.parse(raw.data);
  } catch {
    return null;
  }
  return { id: raw.id, event: raw.event, data } as StreamEvent;
}

/** Waits `ms`; false when `signal` aborted first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (value: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
