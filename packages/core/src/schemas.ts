import { z } from 'zod';

/** Session statuses, as in the Motus serve API (`interrupted`: the turn waits for a person, see `POST /sessions/{id}/resume`). */
export const SESSION_STATUSES = ['idle', 'running', 'interrupted', 'error'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export const ROLES = ['system', 'user', 'assistant', 'tool'] as const;

export const ToolCall = z
  .object({
    id: z.string().max(256),
    type: z.literal('function').default('function'),
    function: z.strictObject({ name: z.string().max(256), arguments: z.string() }),
  })
  .strict();

const chatMessageFields = {
  role: z.enum(ROLES).default('user'),
  content: z.string().nullable().default(null),
  tool_calls: z.array(ToolCall).max(128).optional(),
  tool_call_id: z.string().max(256).optional(),
  name: z.string().max(256).optional(),
  base64_image: z.string().optional(),
  user_params: z.record(z.string(), z.unknown()).nullable().optional(),
  /** Motus: the model's readable reasoning, kept as given. */
  reasoning: z.string().nullable().optional(),
  /** Motus: the provider's opaque reasoning data (OpenRouter), kept as given and sent back to the model. */
  reasoning_details: z.array(z.record(z.string(), z.unknown())).max(1024).nullable().optional(),
};

/** One message of a session's history (Motus `ChatMessage`). */
export const ChatMessage = z.strictObject(chatMessageFields);
export type ChatMessage = z.infer<typeof ChatMessage>;

export const SECRET_MESSAGE = 'must be a whsec_ secret (whsec_ + base64; up to 3, space-separated, while rotating)';
const WebhookSecret = z
  .string()
  .max(600)
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}( whsec_[A-Za-z0-9+/]+={0,2}){0,2}$/, SECRET_MESSAGE);

/**
 * Where to send a turn's result (Motus `WebhookSpec`, plus `secret`). Delivery is done
 * by workers, signed per Standard Webhooks; `secret` overrides the server's
 * `WEBHOOK_SECRET`; several secrets (while rotating) get one signature each.
 */
export const WebhookSpec = z.strictObject({
  url: z
    .string()
    // Before the URL check, which would quietly strip tabs, line breaks and outer spaces.
    .regex(/^[^\s\x00-\x1f\x7f]*$/, 'must not contain spaces or control characters')
    .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
    .max(2048),
  token: z
    .string()
    .max(4096)
    .regex(/^[\x20-\x7e]*$/, 'must be printable ASCII (it is sent in a header)')
    .optional(),
  include_messages: z.boolean().default(false),
  secret: WebhookSecret.optional(),
});
export type WebhookSpec = z.infer<typeof WebhookSpec>;

/**
 * What to do when a message arrives while a turn is running:
 * `reject` answers 409 (Motus behaviour); `enqueue` keeps the message in the session's
 * inbox and runs it after the current turn, in arrival order; `interrupt` queues it the
 * same way and cancels the running turn, so it starts as soon as the agent has stopped
 * (after any messages queued before it: accepted messages keep their order).
 */
export const BUSY_POLICIES = ['reject', 'enqueue', 'interrupt'] as const;
export type BusyPolicy = (typeof BUSY_POLICIES)[number];

export const MessageRequest = z.strictObject({
  ...chatMessageFields,
  webhook: WebhookSpec.nullable().default(null),
  if_busy: z.enum(BUSY_POLICIES).default('reject'),
});
export type MessageRequest = z.infer<typeof MessageRequest>;

/** The agents every server has; an `AGENTS_MODULE` adds its own (names that never clash with these). */
export const AGENT_NAMES = ['echo', 'openai', 'http'] as const;
export type AgentName = (typeof AGENT_NAMES)[number];

export const CreateSessionRequest = z.strictObject({
  state: z.array(ChatMessage).default([]),
  /** A built-in agent or one of `AGENTS_MODULE`'s; the service checks that it exists (422 listing the known ones). */
  agent: z.string().min(1).max(64).optional().describe("The session's agent: echo, openai, http, or one of the server's AGENTS_MODULE (default: AGENT)"),
  /**
   * The session's agent settings (`model`, `system`, `temperature`, `max_steps`, …): checked
   * against what that agent accepts, stored with the session and given to every step.
   */
  config: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("The agent's settings for this session (model, system, temperature, top_p, max_tokens, max_steps; http: anything), checked against what the agent accepts"),
  /** The session's default webhook: told of every turn's end, besides each message's own. */
  webhook: WebhookSpec.nullable().optional(),
});
export type CreateSessionRequest = z.infer<typeof CreateSessionRequest>;

export const INTERRUPT_TYPES = ['tool_approval', 'user_input'] as const;
export type InterruptType = (typeof INTERRUPT_TYPES)[number];

/** What a turn stopped for: `GET /sessions/{id}` shows it while the session is `interrupted`. */
export const InterruptInfo = z.strictObject({
  interrupt_id: z.string(),
  type: z.enum(INTERRUPT_TYPES),
  payload: z.unknown(),
});
export type InterruptInfo = z.infer<typeof InterruptInfo>;

/** `POST /sessions/{id}/resume`: the answer to the interrupt the turn waits on. */
export const ResumeRequest = z.strictObject({
  interrupt_id: z.string().min(1).max(256),
  /** For `tool_approval`: `{approved, reason?}`; for `user_input`: whatever the agent asked for. */
  value: z.unknown().default(null),
});
export type ResumeRequest = z.infer<typeof ResumeRequest>;

/** The most tool steps the echo agent's test contract takes (`user_params.echo.tool_steps`). */
export const ECHO_MAX_TOOL_STEPS = 20;

/**
 * The echo agent's test contract, read from the turn's message `user_params.echo`: `tool_steps`
 * steps calling the built-in `clock` tool, then (with `interrupt`) a stop for a person, then
 * the reply. The API checks it on every message that carries it (422 naming the field).
 */
export const EchoParams = z.strictObject({
  tool_steps: z.int().min(0).max(ECHO_MAX_TOOL_STEPS).default(0),
  interrupt: z.strictObject({ type: z.enum(INTERRUPT_TYPES), payload: z.unknown().default(null) }).optional(),
});
export type EchoParams = z.infer<typeof EchoParams>;

export interface SessionView {
  session_id: string;
  status: SessionStatus;
  response: ChatMessage | null;
  error: string | null;
  agent: string;
  /** The API key's tenant that owns it ('' when auth is off). */
  tenant: string;
  /** No turn starts while paused (queued messages wait). */
  paused: boolean;
  /** Read-only for good (OpenHands V1: its sandbox was deleted). */
  archived: boolean;
  /** Surface-specific attributes: a title, a sandbox id... */
  attributes: Record<string, string>;
  total_messages: number;
  pending_messages: number;
  turn_id: string | null;
  /** While `interrupted`: what the turn waits for (one entry); otherwise empty. */
  interrupts: InterruptInfo[];
  created_at: string;
  updated_at: string;
}

/** Removes the defaults that zod filled in so a stored message keeps only what was given. */
export function compactMessage(message: ChatMessage): ChatMessage {
  const out: Record<string, unknown> = { role: message.role, content: message.content };
  for (const key of ['tool_calls', 'tool_call_id', 'name', 'base64_image', 'user_params', 'reasoning', 'reasoning_details'] as const) {
    if (message[key] !== undefined) out[key] = message[key];
  }
  return out as ChatMessage;
}

export const TURN_EVENT_TYPES = ['turn.completed', 'turn.failed', 'turn.cancelled', 'turn.interrupted'] as const;
export type TurnEventType = (typeof TURN_EVENT_TYPES)[number];

/** The body of a webhook: the Motus payload plus `type`, `turn_id` and `timestamp`. */
export interface TurnEventPayload {
  type: TurnEventType;
  turn_id: string;
  timestamp: string;
  session_id: string;
  /** `interrupted` for `turn.interrupted` (the turn waits for a person; its end event follows later). */
  status: 'idle' | 'error' | 'interrupted';
  response: ChatMessage | null;
  error: string | null;
  /** `turn.interrupted` only: what the turn waits for. */
  interrupts?: InterruptInfo[];
  /** With `include_messages`: the history at the turn's end, its last `WEBHOOK_MESSAGES_MAX` messages within `WEBHOOK_MESSAGES_MAX_BYTES`. */
  messages?: ChatMessage[];
  /** With `include_messages`: true when `messages` leaves out older messages of the history. */
  messages_truncated?: boolean;
  /** With `include_messages`: how many messages the history had at the turn's end. */
  messages_total?: number;
}
