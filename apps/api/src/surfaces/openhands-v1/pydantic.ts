import type { z } from 'zod';
import { type PydanticIssue, RequestValidationError } from '../openhands/errors.ts';
import { quoteList } from '../openhands/validate.ts';

type Loc = (string | number)[];

/**
 * Parses `value` with a zod schema, or throws FastAPI's 422: each zod issue becomes a
 * pydantic one, with pydantic's `type` name and message (`missing` "Field required",
 * `too_short`, `literal_error`, `greater_than`, `less_than_equal`, `int_parsing`,
 * `uuid_parsing`, `string_type`...), `loc` starting with `where`, and the input.
 */
export function parsePydantic<T extends z.ZodType>(schema: T, value: unknown, where: 'body' | 'query' | 'path'): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new RequestValidationError(result.error.issues.flatMap((issue) => toPydantic(issue, [where], value)));
}

function at(root: unknown, path: PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

const TYPE_OF_EXPECTED: Record<string, [string, string]> = {
  string: ['string_type', 'Input should be a valid string'],
  boolean: ['bool_type', 'Input should be a valid boolean'],
  array: ['list_type', 'Input should be a valid list'],
  object: ['model_attributes_type', 'Input should be a valid dictionary or object to extract fields from'],
  int: ['int_from_float', 'Input should be a valid integer, got a number with a fractional part'],
  number: ['int_parsing', 'Input should be a valid integer, unable to parse string as an integer'],
};

function toPydantic(issue: z.core.$ZodIssue, prefix: Loc, root: unknown): PydanticIssue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const loc: Loc = [...prefix, ...path];
  const input = at(root, issue.path);
  const make = (type: string, msg: string, ctx?: Record<string, unknown>): PydanticIssue[] => {
    const out: PydanticIssue = { type, loc, msg };
    if (input !== undefined) out.input = input;
    if (ctx) out.ctx = ctx;
    return [out];
  };
  switch (issue.code) {
    case 'invalid_type': {
      if (input === undefined) return make('missing', 'Field required');
      const [type, msg] = TYPE_OF_EXPECTED[issue.expected] ?? ['value_error', issue.message];
      return make(type, msg);
    }
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array' || issue.origin === 'set') {
        const n = Array.isArray(input) ? input.length : 0;
        return make('too_short', `List should have at least ${min} item${min === 1 ? '' : 's'} after validation, not ${n}`, { field_type: 'List', min_length: min, actual_length: n });
      }
      if (issue.origin === 'string') return make('string_too_short', `String should have at least ${min} character${min === 1 ? '' : 's'}`, { min_length: min });
      return issue.inclusive
        ? make('greater_than_equal', `Input should be greater than or equal to ${min}`, { ge: min })
        : make('greater_than', `Input should be greater than ${min}`, { gt: min });
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array' || issue.origin === 'set') {
        const n = Array.isArray(input) ? input.length : 0;
        return make('too_long', `List should have at most ${max} item${max === 1 ? '' : 's'} after validation, not ${n}`, { field_type: 'List', max_length: max, actual_length: n });
      }
      if (issue.origin === 'string') return make('string_too_long', `String should have at most ${max} character${max === 1 ? '' : 's'}`, { max_length: max });
      return issue.inclusive
        ? make('less_than_equal', `Input should be less than or equal to ${max}`, { le: max })
        : make('less_than', `Input should be less than ${max}`, { lt: max });
    }
    case 'invalid_value': {
      const expected = quoteList(issue.values.map(String));
      return make('literal_error', `Input should be ${expected}`, { expected });
    }
    case 'invalid_union': {
      // The branch that got furthest speaks for the union (pydantic reports each branch; one is clearer).
      const branches = issue.errors.filter((b) => b.length > 0);
      const best = branches.sort((a, b) => depth(b) - depth(a))[0];
      if (!best) return make('union_tag_invalid', issue.message);
      return best.flatMap((inner) => toPydantic({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue, prefix, root));
    }
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ type: 'extra_forbidden', loc: [...loc, key], msg: 'Extra inputs are not permitted' }));
    case 'custom':
      if (/UUID/.test(issue.message)) return make('uuid_parsing', 'Input should be a valid UUID, invalid characters or length');
      return make('value_error', `Value error, ${issue.message}`);
    default:
      return make('value_error', issue.message);
  }
}

function depth(issues: z.core.$ZodIssue[]): number {
  return Math.max(...issues.map((i) => i.path.length));
}
