import type { ChatMessage, InterruptInfo, TurnEventPayload, WebhookSpec } from '@baton/core';
import type { WebhookQueue } from '@baton/queue';
import { type Delivery, type DeliveryLog, type OutboxEvent, decodeMessage } from '@baton/store';

export interface OutboxDeps {
  log: DeliveryLog;
  queue: WebhookQueue;
  /** Server-wide endpoints (WEBHOOK_ENDPOINTS), told of every turn's end. */
  endpoints: string[];
  /** The schedule's first entry: the delay before a delivery's first attempt (ms). */
  firstDelayMs?: number;
  /** `include_messages` sends at most the last this many messages of the history (default 100)... */
  messagesMax?: number;
  /** ...and at most this many bytes of them, as JSON (default 256 KiB). */
  messagesMaxBytes?: number;
}

export const DEFAULT_MESSAGES_MAX = 100;
export const DEFAULT_MESSAGES_MAX_BYTES = 256 * 1024;

/** The history a webhook carries: its newest messages, as many as fit, and whether older ones were left out. */
export interface HistoryCopy {
  messages: ChatMessage[];
  truncated: boolean;
  total: number;
}

/**
 * Turns a session's outbox of turn-end events into webhook deliveries: one per target,
 * written to the delivery log and queued, and only then removed from the outbox. Safe
 * to repeat after a crash at any point: log entries are added only if new and queued
 * jobs are keyed by delivery id, so an event never yields two deliveries to a target.
 */
export async function flushOutbox(deps: OutboxDeps, sessionId: string): Promise<number> {
  const entries = await deps.log.outbox(sessionId);
  let queued = 0;
  for (const { raw, event } of entries) {
    const targets = webhookTargets(event, deps.endpoints);
    const wantsHistory = targets.some((t) => t.spec.include_messages);
    // A deleted session's event gets no history (the session of that id now, if any, is another).
    const messages = wantsHistory ? await historyCopy(deps, sessionId, event) : undefined;
    const deliveries = targets.map((target) => toDelivery(sessionId, event, target, messages, deps.firstDelayMs ?? 0));
    for (const delivery of deliveries) await deps.log.add(delivery);
    await deps.queue.enqueue(
      deliveries.map((d) => ({ session_id: sessionId, delivery_id: d.id, redeliveries: 0 })),
      deps.firstDelayMs ?? 0,
    );
    await deps.log.removeFromOutbox(sessionId, raw);
    queued += deliveries.length;
  }
  return queued;
}

interface Target {
  kind: Delivery['target'];
  /** Position in the target list: keeps delivery ids stable when the flush repeats. */
  slot: string;
  spec: WebhookSpec;
}

/** The message's webhook, the session's default webhook, then each server-wide endpoint. */
export function webhookTargets(event: OutboxEvent, endpoints: string[]): Target[] {
  const targets: Target[] = [];
  if (event.webhook) targets.push({ kind: 'message', slot: 'm', spec: JSON.parse(event.webhook) as WebhookSpec });
  if (event.session_webhook) targets.push({ kind: 'session', slot: 's', spec: JSON.parse(event.session_webhook) as WebhookSpec });
  endpoints.forEach((url, i) => targets.push({ kind: 'server', slot: `e${i}`, spec: { url, include_messages: false } }));
  return targets;
}

/**
 * A bounded copy of the history at the turn's end: its last `messagesMax` messages, fewer when
 * their JSON passes `messagesMaxBytes` (the newest are kept). Each delivery stores its body, so
 * a copy of the whole history would make the log grow with the square of the turns.
 */
async function historyCopy(deps: OutboxDeps, sessionId: string, event: OutboxEvent): Promise<HistoryCopy> {
  const tail = await deps.log.historyTail(sessionId, event.history_len, deps.messagesMax ?? DEFAULT_MESSAGES_MAX, event.incarnation);
  const messages = fitBytes(tail, deps.messagesMaxBytes ?? DEFAULT_MESSAGES_MAX_BYTES);
  // A deleted session's history is gone: nothing was left out on purpose, and nothing is known of it.
  const total = tail.length === 0 ? 0 : event.history_len;
  return { messages, truncated: messages.length < total, total };
}

/** The newest messages whose JSON array stays within `maxBytes`. */
export function fitBytes(messages: ChatMessage[], maxBytes: number): ChatMessage[] {
  let bytes = 2; // []
  let start = messages.length;
  while (start > 0) {
    const size = Buffer.byteLength(JSON.stringify(messages[start - 1])) + 1; // and its comma
    if (bytes + size > maxBytes) break;
    bytes += size;
    start -= 1;
  }
  return messages.slice(start);
}

/** The webhook body: the Motus payload plus `type`, `turn_id` and `timestamp`. */
export function eventPayload(sessionId: string, event: OutboxEvent, history?: HistoryCopy): TurnEventPayload {
  const payload: TurnEventPayload = {
    type: event.type,
    turn_id: event.turn_id,
    timestamp: new Date(Number(event.at)).toISOString(),
    session_id: sessionId,
    status: event.status,
    response: event.response ? decodeMessage(event.response) : null,
    error: event.error || null,
  };
  if (event.interrupt) payload.interrupts = [JSON.parse(event.interrupt) as InterruptInfo];
  if (history) {
    payload.messages = history.messages;
    payload.messages_truncated = history.truncated;
    payload.messages_total = history.total;
  }
  return payload;
}

function toDelivery(
  sessionId: string,
  event: OutboxEvent,
  target: Target,
  messages: HistoryCopy | undefined,
  firstDelayMs: number,
): Delivery {
  const body = eventPayload(sessionId, event, target.spec.include_messages ? (messages ?? { messages: [], truncated: false, total: 0 }) : undefined);
  // A turn's end is its own event; each of its interrupts another (`event_id`: the interrupt's id).
  const eventId = event.event_id ?? event.turn_id;
  const delivery: Delivery = {
    id: `${eventId}.${target.slot}`,
    webhook_id: `msg_${eventId}`,
    session_id: sessionId,
    turn_id: event.turn_id,
    type: event.type,
    target: target.kind,
    url: target.spec.url,
    body: JSON.stringify(body),
    status: 'pending',
    attempts: [],
    schedule_base: 0,
    redeliveries: 0,
    next_attempt_at: new Date(Number(event.at) + firstDelayMs).toISOString(),
    created_at: new Date(Number(event.at)).toISOString(),
  };
  if (target.spec.token) delivery.token = target.spec.token;
  if (target.spec.secret) delivery.secret = target.spec.secret;
  if (event.tenant) delivery.tenant = event.tenant;
  if (event.incarnation) delivery.incarnation = event.incarnation;
  return delivery;
}
