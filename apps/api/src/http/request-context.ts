import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';

/** A client's `x-request-id` is kept when it is short and plain; otherwise one is made. */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
/** Paths whose next segment is a session id, on every surface. */
const SESSION_PATH = /^\/(?:sessions|api\/conversations|api\/v1\/app-conversations|api\/v1\/sessions)\/([0-9a-fA-F-]{32,36})(?:\/|$)/;

export interface RequestContextOptions {
  logger: Logger;
  /** One `info` line per finished request (`LOG_REQUESTS`). */
  logRequests: boolean;
  /** Told of each finished request (metrics); `status` is 499 when the client went away first. */
  observe?: (req: Request, route: string, status: number, seconds: number) => void;
}

/**
 * Gives each request an id (the client's `x-request-id`, or a new one, echoed back) and
 * a child logger in `res.locals.log` that carries it and, on session routes, the
 * session id. When the response ends it logs one line (never headers or bodies) and
 * reports the duration.
 */
export function requestContext(options: RequestContextOptions): RequestHandler {
  const { logger, logRequests, observe } = options;
  return (req, res, next) => {
    const started = performance.now();
    const given = req.get('x-request-id');
    const reqId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', reqId);
    // The child logger is made on first use: most requests never log (it is the
    // costliest part of this middleware on the hot path).
    let child: Logger | undefined;
    const sessionId = sessionIdOf(req.path);
    const log = () => {
      if (!child) {
        child = logger.child(sessionId ? { reqId, sessionId } : { reqId });
      }
      return child;
    };
    Object.defineProperty(res.locals, 'log', { get: log, enumerable: true, configurable: true });
    res.once('close', () => {
      const seconds = (performance.now() - started) / 1000;
      const status = res.writableFinished ? res.statusCode : 499;
      const route = routeOf(req);
      observe?.(req, route, status, seconds);
      if (logRequests) {
        const line = { method: req.method, url: req.originalUrl, route, status, ms: Math.round(seconds * 1000) };
        if (status >= 500) log().warn(line, 'request failed');
        else log().info(line, 'request completed');
      }
    });
    next();
  };
}

/** The request's logger (with its request id), or `fallback` outside a request. */
export function requestLog(res: Response, fallback: Logger): Logger {
  return (res.locals.log as Logger | undefined) ?? fallback;
}

/** The session a path names, as a lower-case UUID, if any. */
export function sessionIdOf(path: string): string | undefined {
  const raw = SESSION_PATH.exec(path)?.[1]?.toLowerCase();
  if (!raw) return undefined;
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(raw)) return raw;
  if (/^[0-9a-f]{32}$/.test(raw)) return `${raw.slice(0, 8)}-${raw.slice(8, 12)}-${raw.slice(12, 16)}-${raw.slice(16, 20)}-${raw.slice(20)}`;
  return undefined;
}

/**
 * The route template (`/sessions/:id`), a bounded label for metrics: the mount path
 * plus the matched route's path; `<mount>/*` for middleware (static files, a surface's
 * 404); `unmatched` for the root's 404s.
 */
export function routeOf(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (route && typeof route.path === 'string') return req.baseUrl + route.path;
  return req.baseUrl ? `${req.baseUrl}/*` : 'unmatched';
}
