import { isUtf8 } from 'node:buffer';
import express, { type RequestHandler } from 'express';
import { AppError, ValidationError } from '@baton/core';

/**
 * How deeply a body may nest arrays and objects. Real requests stay far below it;
 * much deeper bodies overflow the stack of the recursive code that handles them later
 * (JSON.stringify when the message is stored, zod, Lua's cjson at 1000).
 */
export const MAX_JSON_DEPTH = 128;

/**
 * JSON bodies only. A body with another content type gets 415 rather than being
 * silently ignored; an empty body parses as `undefined`. A body that is not UTF-8
 * (JSON text must be, RFC 8259) is refused rather than having its bad bytes replaced,
 * and one nested deeper than MAX_JSON_DEPTH is refused naming the field it is in.
 */
export function jsonBody(limit: string): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && req.headers['content-type'] !== 'application/json' && !req.is(['application/json', 'application/*+json'])) {
      return next(
        new AppError(415, 'unsupported_media_type', `Send the body as application/json (got ${req.headers['content-type'] ?? 'no content-type'})`),
      );
    }
    next();
  };
  const parse = express.json({
    limit,
    type: ['application/json', 'application/*+json'],
    verify: (_req, _res, body, encoding) => {
      if (/^utf-?8$/i.test(encoding) && !isUtf8(body)) {
        throw new AppError(400, 'invalid_json', 'Request body is not valid JSON: it is not valid UTF-8');
      }
    },
  });
  const limitDepth: RequestHandler = (req, _res, next) => {
    // Nesting MAX_JSON_DEPTH deep takes that many brackets, opened and closed: a shorter body cannot.
    if (Number(req.headers['content-length']) < 2 * MAX_JSON_DEPTH) return next();
    const path = tooDeep(req.body);
    if (path) return next(new ValidationError([{ path, message: `nested deeper than ${MAX_JSON_DEPTH} levels` }]));
    next();
  };
  return [requireJson, parse, limitDepth];
}

/**
 * The field (`body.user_params`) holding arrays or objects nested deeper than
 * MAX_JSON_DEPTH, or null. Walks without recursion, so any depth is safe to look at;
 * the path names object keys down to the first array, at most four of them.
 */
function tooDeep(body: unknown): string | null {
  const stack: { value: unknown; depth: number; path: string }[] = [{ value: body, depth: 0, path: 'body' }];
  while (stack.length) {
    const { value, depth, path } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth === MAX_JSON_DEPTH) return path;
    const named = !Array.isArray(value) && depth < 4 && path.split('.').length === depth + 1;
    for (const [key, child] of Object.entries(value)) {
      stack.push({ value: child, depth: depth + 1, path: named ? `${path}.${key}` : path });
    }
  }
  return null;
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** `BODY_LIMIT` (`100kb`, `1mb`, `512`...) in bytes, as express reads it. */
export function bodyLimitBytes(limit: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(limit);
  if (!m) throw new Error(`BODY_LIMIT: not a size: ${limit}`);
  return Math.floor(Number(m[1]) * (UNITS[(m[2] ?? 'b').toLowerCase()] as number));
}
