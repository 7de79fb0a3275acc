import type { z } from 'zod';
import { ValidationError, type FieldIssue } from '@baton/core';

/** Parses `value` or throws a 422 whose details name each field, e.g. `body.webhook.url`. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, where: 'body' | 'query' | 'params' | 'headers'): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(issuesOf(result.error, where));
}

export function issuesOf(error: z.ZodError, where: string): FieldIssue[] {
  return error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const path = [where, ...issue.path.map(String)].join('.');
    if (keys.length) return { path: `${path}.${keys[0]}`, message: `unknown field${keys.length > 1 ? `s ${keys.join(', ')}` : ''}` };
    return { path, message: issue.message };
  });
}
