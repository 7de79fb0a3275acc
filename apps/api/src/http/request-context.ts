import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';

/** A client's `x-request-id` is kept when it is short and plain; otherwise one is made. */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
/** Paths whose next segment is a session id, on every surface. */
const SESSION_PATH = /^\/(?:sessions|api\/conversations|api\/v1\/app-conversations|api\/v1\/sessions)\/([0-9a-fA-F-]{32,36})(?:[/?]|$)/;

export interface RequestContextOptions {
  logger: Logger;
  /** One `info` line per finished request (`LOG_REQUESTS`). */
  logRequests: boolean;
  /** Told of each finished request (metrics); `status` is 499 when the client went away first. */
  observe?: (req: Request, route: string, status: number, seconds: number) => void;
}

/**
 * Gives each request an id (the client's `x-request-id`, or a new one, echoed back) and
 * a child logger (`requestLog`) that carries it and, on session routes, the session id.
 * When the response ends it logs one line (never headers or bodies) and reports the
 * duration. This runs on every request, so it does little until a log line is written.
 */
export function requestContext(options: RequestContextOptions): RequestHandler {
  const { logger, logRequests, observe } = options;
  return (req, res, next) => {
    const started = performance.now();
    const given = req.headers['x-request-id'];
    const reqId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', reqId);
    const context = new RequestLog(logger, reqId, req.url);
    res.locals.requestLog = context;
    res.once('close', () => {
      const seconds = (performance.now() - started) / 1000;
      const status = res.writableFinished ? res.statusCode : 499;
      const route = routeOf(req);
      observe?.(req, route, status, seconds);
      if (logRequests) {
        const line = { method: req.method, url: req.originalUrl, route, status, ms: Math.round(seconds * 1000) };
        if (status >= 500) context.log.warn(line, 'request failed');
        else context.log.info(line, 'request completed');
      }
    });
    next();
  };
}

/** A request's logger, made on first use: most requests never log, and a pino child costs. */
class RequestLog {
  private child: Logger | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly reqId: string,
    private readonly url: string,
  ) {}

  get log(): Logger {
    if (!this.child) {
      const sessionId = sessionIdOf(this.url);
      this.child = this.logger.child(sessionId ? { reqId: this.reqId, sessionId } : { reqId: this.reqId });
    }
    return this.child;
  }
}

/** The request's logger (with its request id), or `fallback` outside a request. */
export function requestLog(res: Response, fallback: Logger): Logger {
  return (res.locals.requestLog as RequestLog | undefined)?.log ?? fallback;
}

/** The session a path (query string or not) names, as a lower-case UUID, if any. */
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
