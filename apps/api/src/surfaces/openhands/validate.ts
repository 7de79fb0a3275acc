import type { Request } from 'express';
import { type PydanticIssue, RequestValidationError } from './errors.ts';

/**
 * Request validation that reports like FastAPI/pydantic: every problem becomes a
 * `{type, loc, msg, input?, ctx?}` with pydantic's own types and messages
 * (`missing` "Field required", `string_type`, `literal_error`, `extra_forbidden`...),
 * and all problems of a request are reported together.
 */
export type Loc = (string | number)[];

export function quoteList(values: readonly string[]): string {
  const quoted = values.map((v) => `'${v}'`);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

const TRUE_STRINGS = new Set(['true', '1', 'yes', 'on', 't', 'y']);
const FALSE_STRINGS = new Set(['false', '0', 'no', 'off', 'f', 'n']);

/** `urn:uuid:`-prefixed, braced, hyphenated or 32-hex UUIDs, in any case (as pydantic accepts them). */
export function parseUuid(value: string): string | null {
  let s = value.trim();
  if (/^urn:uuid:/i.test(s)) s = s.slice(9);
  if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1);
  const hex = /^[0-9a-f]{32}$/i.test(s)
    ? s
    : /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)
      ? s.replace(/-/g, '')
      : null;
  if (!hex) return null;
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class Checker {
  readonly issues: PydanticIssue[] = [];

  add(type: string, loc: Loc, msg: string, input?: unknown, ctx?: Record<string, unknown>): undefined {
    const issue: PydanticIssue = { type, loc, msg };
    if (input !== undefined) issue.input = input;
    if (ctx) issue.ctx = ctx;
    this.issues.push(issue);
    return undefined;
  }

  missing(loc: Loc): undefined {
    return this.add('missing', loc, 'Field required');
  }

  /** Throws the 422 when anything was reported. */
  done(): void {
    if (this.issues.length) throw new RequestValidationError(this.issues);
  }

  /** A pydantic model: a JSON object. */
  model(value: unknown, loc: Loc): Record<string, unknown> | undefined {
    if (isObject(value)) return value;
    if (value === undefined) return this.missing(loc);
    return this.add('model_attributes_type', loc, 'Input should be a valid dictionary or object to extract fields from', value);
  }

  dict(value: unknown, loc: Loc): Record<string, unknown> | undefined {
    if (isObject(value)) return value;
    return this.add('dict_type', loc, 'Input should be a valid dictionary', value);
  }

  list(value: unknown, loc: Loc): unknown[] | undefined {
    if (Array.isArray(value)) return value;
    return this.add('list_type', loc, 'Input should be a valid list', value);
  }

  string(value: unknown, loc: Loc, limits: { min?: number; max?: number } = {}): string | undefined {
    if (typeof value !== 'string') return this.add('string_type', loc, 'Input should be a valid string', value);
    if (limits.min !== undefined && value.length < limits.min) {
      const s = limits.min === 1 ? '' : 's';
      return this.add('string_too_short', loc, `String should have at least ${limits.min} character${s}`, value, { min_length: limits.min });
    }
    if (limits.max !== undefined && value.length > limits.max) {
      const s = limits.max === 1 ? '' : 's';
      return this.add('string_too_long', loc, `String should have at most ${limits.max} character${s}`, value, { max_length: limits.max });
    }
    return value;
  }

  /** pydantic's lax booleans: true/false, 0/1 and the usual words. */
  boolean(value: unknown, loc: Loc): boolean | undefined {
    if (typeof value === 'boolean') return value;
    if (value === 0 || value === 1) return value === 1;
    if (typeof value === 'string') {
      const word = value.trim().toLowerCase();
      if (TRUE_STRINGS.has(word)) return true;
      if (FALSE_STRINGS.has(word)) return false;
      return this.add('bool_parsing', loc, 'Input should be a valid boolean, unable to interpret input', value);
    }
    return this.add('bool_type', loc, 'Input should be a valid boolean', value);
  }

  literal<T extends string>(value: unknown, allowed: readonly T[], loc: Loc, type = 'literal_error'): T | undefined {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    const expected = quoteList(allowed);
    return this.add(type, loc, `Input should be ${expected}`, value, { expected });
  }

  uuid(value: unknown, loc: Loc): string | undefined {
    if (typeof value !== 'string') return this.add('uuid_type', loc, 'UUID input should be a string, bytes or UUID object', value);
    const id = parseUuid(value);
    if (id) return id;
    return this.add('uuid_parsing', loc, 'Input should be a valid UUID, invalid characters or length', value);
  }

  int(value: unknown, loc: Loc, bounds: { gt?: number; le?: number } = {}): number | undefined {
    let n: number;
    if (typeof value === 'number' && Number.isInteger(value)) n = value;
    else if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) n = Number(value);
    else return this.add('int_parsing', loc, 'Input should be a valid integer, unable to parse string as an integer', value);
    if (bounds.gt !== undefined && !(n > bounds.gt)) {
      return this.add('greater_than', loc, `Input should be greater than ${bounds.gt}`, value, { gt: bounds.gt });
    }
    if (bounds.le !== undefined && !(n <= bounds.le)) {
      return this.add('less_than_equal', loc, `Input should be less than or equal to ${bounds.le}`, value, { le: bounds.le });
    }
    return n;
  }

  /** An ISO 8601 datetime; one without an offset is taken as UTC. Returns epoch ms. */
  datetime(value: unknown, loc: Loc): number | undefined {
    if (typeof value === 'string') {
      const s = value.trim();
      const zoned = /^\d{4}-\d{2}-\d{2}$/.test(s) || /(Z|[+-]\d{2}:?\d{2})$/i.test(s);
      const ms = /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(zoned ? s : `${s.replace(' ', 'T')}Z`) : Number.NaN;
      if (!Number.isNaN(ms)) return ms;
    }
    return this.add('datetime_parsing', loc, 'Input should be a valid datetime', value);
  }

  /** Unknown keys of a model with `extra="forbid"`. */
  noExtra(value: Record<string, unknown>, allowed: readonly string[], loc: Loc): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.add('extra_forbidden', [...loc, key], 'Extra inputs are not permitted', value[key]);
    }
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A query parameter's value; the last one wins when it is repeated (as in FastAPI). */
export function queryValue(req: Request, name: string): string | undefined {
  const raw = (req.query as Record<string, unknown>)[name];
  const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  return typeof value === 'string' ? value : undefined;
}

/** Every value of a repeatable query parameter (`?ids=a&ids=b`). */
export function queryValues(req: Request, name: string): string[] {
  const raw = (req.query as Record<string, unknown>)[name];
  if (raw === undefined) return [];
  return (Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === 'string');
}

/** The `{conversation_id}` path parameter: a UUID (422 otherwise, as FastAPI answers for a `UUID` parameter). */
export function conversationId(req: Request): string {
  const check = new Checker();
  const id = check.uuid(String(req.params.id), ['path', 'conversation_id']);
  check.done();
  return id as string;
}
