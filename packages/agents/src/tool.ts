import { z } from 'zod';

/** What a tool's `execute` is told besides its arguments. */
export interface ToolContext {
  sessionId: string;
  turnId: string;
  /**
   * The model's id for this call, stable across reruns: a worker that dies while a tool runs
   * leaves the call without a recorded result, and the worker that takes over runs it again
   * with the same id. A tool with side effects uses it as an idempotency key.
   */
  toolCallId: string;
  /** Aborted on cancel, on the turn's time limit and on worker shutdown. */
  signal: AbortSignal;
  /** The session's agent settings (`config` at create). */
  config: Record<string, unknown>;
  /** The `user_params` of the message that started the turn, if any. */
  userParams?: Record<string, unknown>;
}

/** A JSON Schema of an object (`{type: "object", properties, required}`). */
export type JsonObjectSchema = { type: 'object' } & Record<string, unknown>;

interface ToolFields<A> {
  /** What the model calls it: letters, digits, `_` and `-`, up to 64. */
  name: string;
  description: string;
  /**
   * Runs the call. Its result becomes the `tool` message's content: a string as it is,
   * anything else as JSON. A thrown error becomes `Error: <message>` and the loop goes on;
   * throw an `AgentError` to end the turn in error instead. `askUser(payload)` stops the
   * turn for a person; their answer becomes the result.
   */
  execute: (args: A, ctx: ToolContext) => unknown;
  /** Whether a person must approve a call before it runs: always, or decided by its arguments. */
  needsApproval?: boolean | ((args: A) => boolean | Promise<boolean>);
}

/** A tool as `defineAgent` takes it (build one with `tool`). */
export interface Tool {
  readonly name: string;
  readonly description: string;
  /** The parameters as JSON Schema, as the model is told them. */
  readonly jsonSchema: Record<string, unknown>;
  /** Checks a call's parsed arguments: the value `execute` gets, or what is wrong. */
  parse(args: unknown): { ok: true; args: unknown } | { ok: false; error: string };
  execute(args: unknown, ctx: ToolContext): unknown;
  needsApproval(args: unknown): boolean | Promise<boolean>;
}

export const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A tool whose parameters are a zod schema: `execute` gets the parsed, typed arguments. */
export function tool<S extends z.ZodType>(fields: ToolFields<z.output<S>> & { parameters: S }): Tool;
/** A tool whose parameters are a JSON Schema: arguments are checked against it. */
export function tool(fields: ToolFields<Record<string, unknown>> & { parameters: JsonObjectSchema }): Tool;
export function tool(fields: ToolFields<any> & { parameters: z.ZodType | JsonObjectSchema }): Tool {
  if (!TOOL_NAME.test(fields.name)) {
    throw new TypeError(`tool name ${JSON.stringify(fields.name)} must be 1-64 letters, digits, _ or -`);
  }
  if (typeof fields.execute !== 'function') throw new TypeError(`tool ${fields.name}: execute must be a function`);
  const { schema, jsonSchema } = schemas(fields.name, fields.parameters);
  const approval = fields.needsApproval ?? false;
  return {
    name: fields.name,
    description: fields.description,
    jsonSchema,
    parse(args) {
      const result = schema.safeParse(args);
      if (result.success) return { ok: true, args: result.data };
      const problems = result.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`);
      return { ok: false, error: problems.join('; ') };
    },
    execute: (args, ctx) => fields.execute(args, ctx),
    needsApproval: (args) => (typeof approval === 'function' ? approval(args) : approval),
  };
}

function schemas(name: string, parameters: z.ZodType | JsonObjectSchema): { schema: z.ZodType; jsonSchema: Record<string, unknown> } {
  if (isZod(parameters)) {
    const { $schema: _, ...jsonSchema } = z.toJSONSchema(parameters, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    if (jsonSchema.type !== 'object') throw new TypeError(`tool ${name}: parameters must be an object schema (z.object)`);
    return { schema: parameters, jsonSchema };
  }
  if (!parameters || typeof parameters !== 'object' || parameters.type !== 'object') {
    throw new TypeError(`tool ${name}: parameters must be a zod schema or a JSON Schema with type "object"`);
  }
  let schema: z.ZodType;
  try {
    schema = z.fromJSONSchema(parameters as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (err) {
    throw new TypeError(`tool ${name}: parameters is not a JSON Schema zod can check: ${(err as Error).message}`, { cause: err });
  }
  return { schema, jsonSchema: parameters };
}

function isZod(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value && typeof (value as z.ZodType).safeParse === 'function';
}

/** Thrown by `askUser`: the step turns it into a `user_input` interrupt. */
export class UserInputRequest extends Error {
  constructor(readonly payload: Record<string, unknown>) {
    super('the tool asked the user for input');
    this.name = 'UserInputRequest';
  }
}

/**
 * Called in a tool's `execute`: stops the turn with a `user_input` interrupt whose payload is
 * `{...payload, tool_call_id, name}` (a string becomes `{question}`). The turn waits, holding
 * nothing, until `POST /sessions/{id}/resume {interrupt_id, value}`; `value` then becomes this
 * call's result (`execute` does not run again).
 */
export function askUser(payload: string | Record<string, unknown>): never {
  throw new UserInputRequest(typeof payload === 'string' ? { question: payload } : { ...payload });
}
