import { SseParser } from '../../../packages/client/src/sse.ts';
import { apiBase, authHeaders, sessionPath } from './api.ts';

/** One event of `GET /sessions/{id}/events` (data parsed from JSON). */
export interface SessionEvent {
  id: string | null;
  event: string;
  data: any;
}

export interface FollowHandlers {
  onEvent: (event: SessionEvent) => void;
  /** true while a connection is open; false while reconnecting. */
  onConnection?: (open: boolean) => void;
  /** The stream cannot go on (404: the session is gone; 401: the key was refused). */
  onFatal?: (status: number) => void;
}

/**
 * Follows a session's event stream with fetch, not EventSource: EventSource cannot send an
 * `Authorization` header, and the key must not go in a URL. Parses with the client
 * package's SSE parser; a dropped connection is reopened with `Last-Event-ID`, so no
 * event is missed or repeated. Stops when `signal` aborts or after a `deleted` event.
 */
export async function followEvents(sessionId: string, handlers: FollowHandlers, signal: AbortSignal): Promise<void> {
  let lastEventId: string | null = null;
  let delayMs = 1000;
  while (!signal.aborted) {
    const headers: Record<string, string> = { accept: 'text/event-stream', ...authHeaders() };
    if (lastEventId !== null) headers['last-event-id'] = lastEventId;
    try {
      const res = await fetch(`${apiBase}${sessionPath(sessionId)}/events`, { headers, signal, cache: 'no-store' });
      if (res.status === 404 || res.status === 401) {
        handlers.onFatal?.(res.status);
        return;
      }
      if (res.ok && res.body) {
        handlers.onConnection?.(true);
        const parser: SseParser = new SseParser(lastEventId);
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (const raw of parser.push(decoder.decode(value, { stream: true }))) {
            lastEventId = raw.id;
            let data: unknown;
            try {
              data = JSON.parse(raw.data);
            } catch {
              continue;
            }
            handlers.onEvent({ id: raw.id, event: raw.event, data });
            if (raw.event === 'deleted') return;
          }
          if (parser.retry !== null) delayMs = parser.retry;
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    handlers.onConnection?.(false);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}
