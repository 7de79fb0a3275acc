import type { AppError } from '@baton/core';

/** agenhq answers errors the Fastify way: `{statusCode, error, message}`, plus Baton's `code`. */
export function agenhqError(err: AppError): unknown {
  return { statusCode: err.status, error: reasonPhrase(err.status), message: err.message, code: err.code };
}

function reasonPhrase(status: number): string {
  const phrases: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    410: 'Gone',
    413: 'Payload Too Large',
    415: 'Unsupported Media Type',
    422: 'Unprocessable Entity',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
  };
  return phrases[status] ?? 'Error';
}
