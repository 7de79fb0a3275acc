import type { z } from 'zod';
import type {
  ChatMessage,
  CreateSessionRequest,
  MessageRequest,
  SessionStatus,
  SessionView,
  TurnEventPayload,
  WebhookSpec,
} from '@baton/core';
import type { DeliveryAttempt, DeliveryStatus, DeliveryView } from '@baton/store';

// Types only: the client has no runtime dependency on the server's packages but its
// `@baton/webhooks` verifier, so these shapes stay the server's own.
export type { ChatMessage, SessionStatus, TurnEventPayload, DeliveryAttempt, DeliveryStatus };

/** `GET /sessions/{id}`: the Motus SessionResponse plus Baton's extra fields. */
export type SessionResponse = Pick<
  SessionView,
  'session_id' | 'status' | 'response' | 'error' | 'agent' | 'total_messages' | 'pending_messages' | 'created_at' | 'updated_at'
> & {
  /** Only while `interrupted`: what the turn waits for (answer with `resume`). */
  interrupts?: SessionView['interrupts'];
};

/** `POST /sessions/{id}/resume`. */
export interface ResumeResult {
  session_id: string;
  status: SessionStatus;
}

/** A webhook as sent (optional fields may be left out). */
export type WebhookInput = z.input<typeof WebhookSpec>;

/** The body of `POST /sessions/{id}/messages`: a ChatMessage plus `webhook` and `if_busy`. */
export type MessageInput = z.input<typeof MessageRequest>;

export type CreateSessionOptions = z.input<typeof CreateSessionRequest> & {
  /** Create with your own UUID (`PUT /sessions/{id}`); `409 session_exists` if taken. */
  sessionId?: string;
};

/** One row of `GET /sessions`. */
export interface SessionSummary {
  session_id: string;
  total_messages: number;
  status: SessionStatus;
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
}

export interface CancelResult {
  session_id: string;
  /** The turn being cancelled; `null` when nothing ran. */
  cancelled_turn_id: string | null;
}

/** One webhook delivery of `GET /sessions/{id}/webhooks`, with every attempt. */
export type Delivery = DeliveryView;

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
