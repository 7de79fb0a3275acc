import type { z } from 'zod';
import { AppError } from '@baton/core';

/**
 * agenhq runs on Fastify, whose schema validation answers `400` with code
 * `FST_ERR_VALIDATION` and an ajv-worded message such as
 * `body/message must NOT have fewer than 1 characters`. This surface does the same.
 */
export class FastifyValidationError extends AppError {
  constructor(message: string) {
    super(400, 'FST_ERR_VALIDATION', message);
  }
}

export type Where = 'body' | 'querystring' | 'params';

/** Parses `value` with `schema`, or throws a Fastify-style 400 naming the first bad field. */
export function validate<T extends z.ZodType>(schema: T, value: unknown, where: Where): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new FastifyValidationError(issue ? describe(issue, value, where) : `${where} is invalid`);
}

function describe(issue: z.core.$ZodIssue, input: unknown, where: Where): string {
  const path = issue.path.map(String);
  const at = [where, ...path].join('/');
  switch (issue.code) {
    case 'invalid_type': {
      const parent = [where, ...path.slice(0, -1)].join('/');
      if (path.length > 0 && valueAt(input, path) === undefined) {
        return `${parent} must have required property '${path[path.length - 1]}'`;
      }
      return `${at} must be ${issue.expected === 'int' ? 'integer' : issue.expected}`;
    }
    case 'too_small':
      return issue.origin === 'string'
        ? `${at} must NOT have fewer than ${issue.minimum} characters`
        : `${at} must be >= ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'string'
        ? `${at} must NOT have more than ${issue.maximum} characters`
        : `${at} must be <= ${issue.maximum}`;
    default:
      return `${at} ${issue.message}`;
  }
}

function valueAt(input: unknown, path: string[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
