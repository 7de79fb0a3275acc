/**
 * The shapes of Baton's native API, written out so the published package needs no other
 * package (not even zod). `types.test.ts` checks at compile time that they are the
 * server's own (`@baton/core`, `@baton/store`): a field added there and not here fails
 * `npm run typecheck`.
 */

/** `idle`: ready; `running`: a turn runs; `interrupted`: the agent waits for a person (`resume`); `error`: the last turn failed. */
export type SessionStatus = 'idle' | 'running' | 'interrupted' | 'error';

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One message of a session's history (Motus `ChatMessage`), as the server answers it. */
export interface ChatMessage {
  role: Role;
  content: string | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  name?: string;
  base64_image?: string;
  user_params?: Record<string, unknown> | null;
  /** The model's readable reasoning, kept as given (Motus). */
  reasoning?: string | null;
  /** The provider's opaque reasoning data, kept as given (Motus). */
  reasoning_details?: Record<string, unknown>[] | null;
}

/** A ChatMessage as sent: `role` defaults to `user`, `content` to null. */
export interface ChatMessageInput {
  role?: Role;
  content?: string | null;
  tool_calls?: (Omit<ToolCall, 'type'> & { type?: 'function' })[];
  tool_call_id?: string;
  name?: string;
  base64_image?: string;
  user_params?: Record<string, unknown> | null;
  reasoning?: string | null;
  reasoning_details?: Record<string, unknown>[] | null;
}

/** A webhook as sent: told when the turn ends (signed with `secret`, else the server's `WEBHOOK_SECRET`). */
export interface WebhookInput {
  /** http(s); loopback and private addresses are refused unless the server sets `WEBHOOK_ALLOW_PRIVATE=true`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Add the history at the turn's end as `messages`. */
  include_messages?: boolean;
  /** `whsec_…` (up to 3, space-separated, while rotating). */
  secret?: string;
}

/** What to do when a message arrives while a turn runs. */
export type BusyPolicy = 'reject' | 'enqueue' | 'interrupt';

/** The body of `POST /sessions/{id}/messages`: a ChatMessage plus `webhook` and `if_busy`. */
export interface MessageInput extends ChatMessageInput {
  webhook?: WebhookInput | null;
  if_busy?: BusyPolicy;
}

export interface CreateSessionOptions {
  /** Preloaded history. */
  state?: ChatMessageInput[];
  /** The session's agent (default: the server's `AGENT`). */
  agent?: string;
  /** The agent's settings for this session (`model`, `system`, `temperature`, `max_steps`, …), checked by the server. */
  config?: Record<string, unknown>;
  /** The session's default webhook: told of every turn's end, besides each message's own. */
  webhook?: WebhookInput | null;
  /** Create with your own UUID (`PUT /sessions/{id}`); `409 session_exists` if taken. */
  sessionId?: string;
}

/** What an interrupted turn asks a person; answer it with `resume`. */
export interface Interrupt {
  interrupt_id: string;
  /** `tool_approval`: answer `{approved: boolean, reason?: string}`; `user_input`: any JSON value. */
  type: 'tool_approval' | 'user_input';
  payload: unknown;
}

/** `GET /sessions/{id}`: the Motus SessionResponse plus Baton's extra fields. */
export interface SessionResponse {
  session_id: string;
  status: SessionStatus;
  /** The last turn's reply, or null. */
  response: ChatMessage | null;
  /** Why the last turn failed (`"Turn cancelled"` after a cancel), or null. */
  error: string | null;
  agent: string;
  total_messages: number;
  /** Messages waiting in the inbox (`if_busy: "enqueue"`). */
  pending_messages: number;
  created_at: string;
  updated_at: string;
  /** While `interrupted`: what the agent waits for. */
  interrupts?: Interrupt[];
}

/** One row of `GET /sessions`. */
export interface SessionSummary {
  session_id: string;
  total_messages: number;
  status: SessionStatus;
  /** The session's agent. */
  agent: string;
  /** ISO 8601 times: when the session was made, and when it last changed. */
  created_at: string;
  updated_at: string;
}

export interface SessionPage {
  items: SessionSummary[];
  /** Pass as `cursor` for the next page; `null` on the last one. */
  nextCursor: string | null;
}

/** `202` of `POST /sessions/{id}/messages`. */
export interface MessageAccepted {
  session_id: string;
  status: 'running';
  turn_id: string;
  /** True when the message waits in the inbox behind a running turn (`if_busy: "enqueue"`). */
  queued: boolean;
  /** With `if_busy: "interrupt"`: the running turn it cancelled. */
  cancelled_turn_id?: string;
}

export interface CancelResult {
  session_id: string;
  /** The turn being cancelled; `null` when nothing ran. */
  cancelled_turn_id: string | null;
}

/** `200` of `POST /sessions/{id}/resume`: the turn goes on. */
export interface ResumeResult {
  session_id: string;
  status: SessionStatus;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead';

export interface DeliveryAttempt {
  at: string;
  /** The receiver's HTTP status; null when no answer came. */
  status_code: number | null;
  latency_ms: number;
  error: string | null;
}

/** `turn.interrupted`: the turn stopped for a person (its end event follows once it is resumed and ends). */
export type TurnEventType = 'turn.completed' | 'turn.failed' | 'turn.cancelled' | 'turn.interrupted';

/** One webhook delivery of `GET /sessions/{id}/webhooks`, with every attempt. */
export interface Delivery {
  id: string;
  /** The Standard Webhooks `webhook-id`: the same on every attempt and redelivery. */
  webhook_id: string;
  session_id: string;
  turn_id: string;
  type: TurnEventType;
  /** Whose webhook: the message's, the session's default, or a server-wide endpoint. */
  target: 'message' | 'session' | 'server';
  url: string;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  redeliveries: number;
  next_attempt_at: string | null;
  created_at: string;
}

/** One entry of `GET /dead-letters` (admin): a delivery that ran out of attempts, and when. */
export interface DeadLetter extends Delivery {
  dead_at: string;
}

/** The body of a webhook: the Motus payload plus `type`, `turn_id` and `timestamp`. */
export interface TurnEventPayload {
  type: TurnEventType;
  turn_id: string;
  timestamp: string;
  session_id: string;
  /** `interrupted` for `turn.interrupted`. */
  status: 'idle' | 'error' | 'interrupted';
  response: ChatMessage | null;
  error: string | null;
  /** With `include_messages`: the history at the turn's end, its last `WEBHOOK_MESSAGES_MAX` messages within `WEBHOOK_MESSAGES_MAX_BYTES`. */
  messages?: ChatMessage[];
  /** With `include_messages`: true when `messages` leaves out older messages of the history. */
  messages_truncated?: boolean;
  /** With `include_messages`: how many messages the history had at the turn's end. */
  messages_total?: number;
  /** `turn.interrupted` only: what the turn waits for. */
  interrupts?: Interrupt[];
}

export type StreamEventType = StreamEvent['event'];

/**
 * One event of `GET /sessions/{id}/events`. `id` is its Redis stream id (increasing; resume
 * after it with `lastEventId`); `deleted` carries none (it keeps the previous one).
 */
export type StreamEvent =
  /** The status changed; the first event of a new stream is a `snapshot` of the current one. */
  | { id: string | null; event: 'status'; data: { status: SessionStatus; turn_id: string | null; snapshot?: true; resync?: true } }
  /** A piece of the running turn's reply, `offset` code points into it (a rerun turn starts again from 0). */
  | { id: string | null; event: 'delta'; data: { turn_id: string; content: string; offset: number } }
  /** A message the turn recorded: a step's (tool calls, tool results: `step` is set), or the reply (no `step`). */
  | { id: string | null; event: 'message'; data: { turn_id: string; message: ChatMessage; step?: number } }
  /** The turn stopped to wait for a person (answer with `POST /sessions/{id}/resume`). */
  | { id: string | null; event: 'interrupted'; data: { turn_id: string; interrupts: { interrupt_id: string; type: string; payload: unknown }[] } }
  /** Why the turn failed. */
  | { id: string | null; event: 'error'; data: { turn_id: string; error: string } }
  /** The session was deleted: the stream ends. */
  | { id: string | null; event: 'deleted'; data: { session_id: string } };
