import type { AppError, FieldIssue } from '@baton/core';

/**
 * FastAPI's error bodies: `422 {detail: [{loc, msg, type}]}` for validation errors,
 * `{detail: "<message>"}` for everything else.
 */
export function fastApiError(err: AppError): unknown {
  if (err.status === 422 && Array.isArray(err.details)) {
    return {
      detail: (err.details as FieldIssue[]).map((issue) => ({
        loc: issue.path.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part)),
        msg: issue.message,
        type: err.code === 'validation_failed' ? 'value_error' : err.code,
      })),
    };
  }
  return { detail: err.message };
}
