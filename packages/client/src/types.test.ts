import type { z } from 'zod';
import type {
  CancelAccepted,
  ChatMessage as ServerChatMessage,
  CreateSessionRequest,
  MessageAccepted as ServerMessageAccepted,
  MessageRequest,
    SessionListItem,
  SessionResponse as ServerSessionResponse,
  SessionStatus as ServerSessionStatus,
  TurnEventPayload as ServerTurnEventPayload,
  WebhookSpec,
} from '@baton/core';
import type { DeliveryAttempt as ServerDeliveryAttempt, DeliveryView } from '@baton/store';
import type { DeadLetter as ServerDeadLetter } from '@baton/core';
import { describe, expect, it } from 'vitest';
import type {
  CancelResult,
  ChatMessage,
  CreateSessionOptions,
  DeadLetter,
  Delivery,
  DeliveryAttempt,
  MessageAccepted,
  MessageInput,
  SessionResponse,
  SessionStatus,
  SessionSummary,
  TurnEventPayload,
  WebhookInput,
} from './types.ts';

/** A is accepted where B is expected. */
type Fits<A, B> = [A] extends [B] ? true : false;

/** Identical types, optional fields included (mutual assignability alone ignores an optional field's name). */
type Same<A, B> = (<T>() => T extends Normal<A> ? 1 : 2) extends <T>() => T extends Normal<B> ? 1 : 2 ? true : false;
/** Flattens intersections and mapped types, member by member, so equal shapes compare equal. */
type Normal<T> = T extends (infer E)[] ? Normal<E>[] : T extends object ? { [K in keyof T]: Normal<T[K]> } : T;

/**
 * The client's own declarations against the server's (compile time: `npm run typecheck`
 * fails when they drift). Answers must be the same shape; what the client sends must be
 * what the server accepts, and the other way round.
 */
const checks = {
  status: true satisfies Same<SessionStatus, ServerSessionStatus>,
  chatMessage: true satisfies Same<ChatMessage, ServerChatMessage>,
  // `interrupts` is the Motus field of an interrupted session (the server's resume support adds it).
  session: true satisfies Same<Omit<SessionResponse, 'interrupts'>, Omit<ServerSessionResponse, 'interrupts' & keyof ServerSessionResponse>>,
  sessionFits: true satisfies Fits<ServerSessionResponse, SessionResponse>,
  summary: true satisfies Same<SessionSummary, SessionListItem>,
  accepted: true satisfies Same<MessageAccepted, ServerMessageAccepted>,
  cancel: true satisfies Same<CancelResult, CancelAccepted>,
  delivery: true satisfies Same<Delivery, DeliveryView>,
  deadLetter: true satisfies Same<DeadLetter, ServerDeadLetter>,
  attempt: true satisfies Same<DeliveryAttempt, ServerDeliveryAttempt>,
  payload: true satisfies Same<TurnEventPayload, ServerTurnEventPayload>,
  webhook: true satisfies Same<WebhookInput, z.input<typeof WebhookSpec>>,
  message: true satisfies Same<MessageInput, z.input<typeof MessageRequest>>,
  // The client takes any agent name (servers may load their own agents); the rest is the server's.
  create: true satisfies Fits<z.input<typeof CreateSessionRequest>, Omit<CreateSessionOptions, 'sessionId'>>,
  createBack: true satisfies Same<Omit<CreateSessionOptions, 'sessionId' | 'agent'>, Omit<z.input<typeof CreateSessionRequest>, 'agent'>>,
};

describe('the client types', () => {
  it('are the server types (checked by the compiler: every entry is `true`)', () => {
    expect(Object.values(checks).every((v) => v === true)).toBe(true);
  });
});
