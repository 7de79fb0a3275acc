import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { requestLog } from './request-context.ts';
import { AppError, type ErrorBody, ServiceUnavailableError, StorageFullError } from '@baton/core';
import { isRedisFull } from '@baton/store';

/**
 * The one error body of the native API: `{"error": {"code", "message", "details"?}, "detail"}`.
 * `detail` is the message as a FastAPI server (Motus) words it, which Motus clients show.
 */
export function errorBody(err: AppError): ErrorBody {
  // Every AppError's details are FieldIssue[] (ValidationError, WebhookUrlError).
  const details = err.details as ErrorBody['error']['details'];
  return { error: { code: err.code, message: err.message, ...(details !== undefined ? { details } : {}) }, detail: motusDetail(err) };
}

/** Motus's own words where its clients look for them ("session not found" tells a missing session from a missing interrupt). */
function motusDetail(err: AppError): string {
  if (err.code === 'session_not_found') return 'Session not found';
  // Motus words it "Session is running"; Baton's message adds how to queue or interrupt instead.
  if (err.code === 'session_running') return err.message.split(';')[0] as string;
  return err.message;
}

export class RouteNotFoundError extends AppError {
  constructor(method: string, path: string) {
    super(404, 'route_not_found', `No route for ${method} ${path}`);
  }
}

export class MethodNotAllowedError extends AppError {
  constructor(method: string, allowed: string[]) {
    super(405, 'method_not_allowed', `${method} is not allowed here; use ${allowed.join(', ')}`, {
      headers: { allow: allowed.join(', ') },
    });
  }
}

/** Body-parser, Redis and unexpected errors become AppErrors; nothing else leaks. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { type?: string; status?: number; message?: string; name?: string; limit?: number };
  switch (e.type) {
    case 'entity.parse.failed':
      return new AppError(400, 'invalid_json', `Request body is not valid JSON: ${e.message ?? ''}`.trim());
    case 'entity.too.large':
      return new AppError(413, 'payload_too_large', `Request body is larger than the limit of ${e.limit} bytes`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError(415, 'unsupported_media_type', e.message ?? 'Unsupported encoding');
    case 'request.aborted':
      return new AppError(400, 'request_aborted', 'The request was aborted while its body was read');
  }
  // The router could not percent-decode a path segment (`/sessions/%ff`): the client's fault.
  if (err instanceof URIError) return new AppError(400, 'invalid_path', `Request path is not valid percent-encoded UTF-8: ${err.message}`);
  if (isRedisFull(err)) return new StorageFullError(err);
  if (isRedisUnavailable(err)) {
    return new ServiceUnavailableError('The session store is unavailable; retry shortly', err);
  }
  return new AppError(500, 'internal_error', 'Internal server error', { cause: err });
}

function isRedisUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string };
  return (
    e?.name === 'MaxRetriesPerRequestError' ||
    e?.code === 'ECONNREFUSED' ||
    e?.code === 'ECONNRESET' ||
    /Stream isn't writeable|Connection is closed|enableOfflineQueue/.test(e?.message ?? '')
  );
}

/** How a surface shapes its error bodies (the native shape by default). */
export type ErrorFormat = (err: AppError) => unknown;

export function errorHandler(logger: Logger, format: ErrorFormat = errorBody): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const appError = toAppError(err);
    if (appError.status >= 500) {
      requestLog(res, logger).error({ err: appError.cause ?? err, method: req.method, path: req.path }, appError.message);
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(appError.status).set(appError.headers).json(format(appError));
  };
}

export const notFound: RequestHandler = (req, _res, next) => next(new RouteNotFoundError(req.method, req.path));

/** Answers 405 for the methods a path does not serve. */
export function allow(...methods: string[]): RequestHandler {
  return (req, _res, next) => next(new MethodNotAllowedError(req.method, methods));
}
