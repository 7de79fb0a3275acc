import { Router, type Request } from 'express';
import type { Logger } from 'pino';
import { EventsQuery, ValidationError } from '@baton/core';
import { type SessionService, type SessionStore, type SessionWatcher, parseStreamId } from '@baton/store';
import { tenantOf } from '../http/auth.ts';
import { allow } from '../http/errors.ts';
import { parse } from '../http/validate.ts';
import { RequestSignals } from '../http/request-signals.ts';
import { followEvents } from '../event-stream.ts';
import type { WaiterSlots } from '../long-poll.ts';
import { requestLog } from '../http/request-context.ts';
import { sessionId } from './sessions.ts';

export interface EventRoutesDeps {
  logger: Logger;
  service: SessionService;
  store: SessionStore;
  watcher: SessionWatcher;
  /** Aborted when the process shuts down: event streams end (clients resume elsewhere). */
  shutdown: AbortSignal;
  /** Heartbeat comment interval of idle event streams (ms; default 15 s). */
  sseHeartbeatMs?: number;
  /** The most event data one stream reads ahead for its client (`SSE_BUFFER_BYTES`; default 1 MiB). */
  sseBufferBytes?: number;
  /** A client that takes nothing of its stream for this long is closed (ms; `SSE_WRITE_TIMEOUT_S`, default 30 s). */
  sseWriteTimeoutMs?: number;
  /** `MAX_WAITERS`: each open stream holds a slot, as a long-poll does. */
  waiters?: WaiterSlots;
}

/** `GET /sessions/{id}/events`: the session's events as Server-Sent Events. */
export function eventRoutes(deps: EventRoutesDeps): Router {
  const router = Router();
  const signals = new RequestSignals(deps.shutdown);
  router
    .route('/sessions/:id/events')
    .get(async (req, res) => {
      const id = sessionId(req);
      await deps.service.scope(tenantOf(res)).own(id);
      const after = lastEventId(req);
      const release = deps.waiters?.take();
      try {
        const bufferBytes = deps.sseBufferBytes ?? 1_048_576;
        await followEvents(deps, id, after, res, {
          heartbeatMs: deps.sseHeartbeatMs ?? 15_000,
          signal: signals.for(req, res),
          bufferBytes,
          writeTimeoutMs: deps.sseWriteTimeoutMs ?? 30_000,
          onStalled: ({ buffered, held }) =>
            requestLog(res, deps.logger).warn(
              { buffered, held, bufferBytes },
              'event stream closed: its client took nothing for SSE_WRITE_TIMEOUT_S (it may resume with Last-Event-ID)',
            ),
        });
      } finally {
        release?.();
      }
    })
    .all(allow('GET'));
  return router;
}

/**
 * The `Last-Event-ID` header (what EventSource sends when it reconnects), else `?last_event_id=`;
 * both forms are checked alike (an id past the 64-bit range is a 422 in either).
 */
function lastEventId(req: Request): string | null {
  const { last_event_id: query } = parse(EventsQuery, req.query, 'query');
  const header = req.get('last-event-id');
  if (header !== undefined && header !== '') return streamId(header, 'headers.last-event-id');
  return query === undefined ? null : streamId(query, 'query.last_event_id');
}

function streamId(text: string, path: string): string {
  const id = parseStreamId(text);
  if (!id) throw new ValidationError([{ path, message: 'must be an event id from this stream, like 1700000000000-0' }]);
  return id;
}
