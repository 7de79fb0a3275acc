import type { ErrorRequestHandler } from 'express';
import { AppError, type FieldIssue } from '@baton/core';
import { toAppError } from '../../http/errors.ts';

/** One item of FastAPI's 422 body, as pydantic reports it. */
export interface PydanticIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

/** A 422 whose details are already FastAPI-shaped (`loc` arrays, pydantic `type`s). */
export class RequestValidationError extends AppError {
  constructor(issues: PydanticIssue[]) {
    const first = issues[0];
    const summary = first ? `${first.loc.join('.')}: ${first.msg}` : 'invalid request';
    super(422, 'validation_failed', `Invalid request: ${summary}`, { details: issues });
  }
}

function isPydanticIssue(value: unknown): value is PydanticIssue {
  return typeof value === 'object' && value !== null && Array.isArray((value as PydanticIssue).loc);
}

/**
 * FastAPI's error bodies: `422 {detail: [{loc, msg, type}]}` for validation errors,
 * `{detail: "<message>"}` for everything else. Issues raised by this surface carry
 * pydantic's own `type`s; 422s from the shared core (`body.agent`, webhook URLs) are
 * converted from their dotted paths.
 */
export function fastApiError(err: AppError): unknown {
  if (err.status === 422 && Array.isArray(err.details)) {
    return {
      detail: (err.details as unknown[]).map((issue) => {
        if (isPydanticIssue(issue)) return issue;
        const field = issue as FieldIssue;
        return {
          type: err.code === 'validation_failed' ? 'value_error' : err.code,
          loc: field.path.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part)),
          msg: field.message,
        };
      }),
    };
  }
  // The core speaks of sessions; a conversation IS a session here.
  if (err.code === 'session_not_found') return { detail: err.message.replace(/^Session/, 'Conversation') };
  if (err.code === 'session_archived') return { detail: 'Conversation is archived (read-only)' };
  return { detail: err.message };
}

/**
 * A body that is not JSON is FastAPI's 422 `json_invalid` (loc `["body", <position>]`,
 * "JSON decode error"), not the native 400. A body that is not UTF-8 stays 400.
 */
export const fastApiJsonErrors: ErrorRequestHandler = (err, _req, _res, next) => {
  const e = toAppError(err);
  if (e.code !== 'invalid_json' || /UTF-8/.test(e.message)) return next(err);
  const reason = e.message.replace(/^Request body is not valid JSON:\s*/, '');
  // Where the parser stopped; the end of the body when it ran out of input.
  const raw = (err as { body?: unknown }).body;
  const position = Number(/position (\d+)/.exec(reason)?.[1] ?? (typeof raw === 'string' ? raw.length : 0));
  next(new RequestValidationError([{ type: 'json_invalid', loc: ['body', position], msg: 'JSON decode error', input: {}, ctx: { error: reason } }]));
};
