import { Router, type Request } from 'express';
import { EventsQuery, ValidationError } from '@baton/core';
import { type SessionService, type SessionStore, type SessionWatcher, parseStreamId } from '@baton/store';
import { tenantOf } from '../http/auth.ts';
import { allow } from '../http/errors.ts';
import { parse } from '../http/validate.ts';
import { RequestSignals } from '../http/request-signals.ts';
import { followEvents } from '../event-stream.ts';
import { sessionId } from './sessions.ts';

export interface EventRoutesDeps {
  service: SessionService;
  store: SessionStore;
  watcher: SessionWatcher;
  /** Aborted when the process shuts down: event streams end (clients resume elsewhere). */
  shutdown: AbortSignal;
  /** Heartbeat comment interval of idle event streams (ms; default 15 s). */
  sseHeartbeatMs?: number;
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
      await followEvents(deps, id, lastEventId(req), res, {
        heartbeatMs: deps.sseHeartbeatMs ?? 15_000,
        signal: signals.for(req, res),
      });
    })
    .all(allow('GET'));
  return router;
}

/** The `Last-Event-ID` header (what EventSource sends when it reconnects), else `?last_event_id=`. */
function lastEventId(req: Request): string | null {
  const { last_event_id: query } = parse(EventsQuery, req.query, 'query');
  const header = req.get('last-event-id');
  if (header === undefined || header === '') return query ? parseStreamId(query) : null;
  const id = parseStreamId(header);
  if (!id) throw new ValidationError([{ path: 'headers.last-event-id', message: 'must be an event id from this stream, like 1700000000000-0' }]);
  return id;
}
