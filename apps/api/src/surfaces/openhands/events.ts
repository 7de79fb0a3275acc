import { createHash } from 'node:crypto';
import type { ChatMessage, SessionView } from '@baton/core';
import type { TimelineEntry } from '@baton/store';

/**
 * A session's timeline as OpenHands SDK events, in time order (when each message was
 * sent, or answered):
 * - each message (history and queued) → a `MessageEvent` whose `llm_message` is the
 *   message in the SDK's shape (`content: [TextContent | ImageContent]`);
 * - each tool call of an assistant message → an `ActionEvent` right after its message (so an
 *   action awaiting confirmation shows as upstream shows it: an action without an observation,
 *   while the execution status is `waiting_for_confirmation`);
 * - each failed or cancelled turn → a `ConversationErrorEvent` (source `environment`)
 *   right after the message that started it.
 * Ids are UUIDs derived from the session id and the turn (or the history position for
 * messages outside any turn), so they are the same on every call, including for a
 * queued message once its turn has started.
 */

export type EventSource = 'user' | 'agent' | 'environment';

export interface MessageEventJson {
  kind: 'MessageEvent';
  id: string;
  timestamp: string;
  source: EventSource;
  llm_message: Record<string, unknown>;
  activated_skills: string[];
  extended_content: never[];
}

export interface ErrorEventJson {
  kind: 'ConversationErrorEvent';
  id: string;
  timestamp: string;
  source: 'environment';
  code: string;
  detail: string;
}

/** A tool call the agent made: upstream's record of an action (also one awaiting confirmation). */
export interface ActionEventJson {
  kind: 'ActionEvent';
  id: string;
  timestamp: string;
  source: 'agent';
  thought: never[];
  action: null;
  tool_name: string;
  tool_call_id: string;
  tool_call: { id: string; name: string; arguments: string; origin: 'completion' };
  llm_response_id: string;
  security_risk: 'UNKNOWN';
  summary: null;
}

export type EventJson = MessageEventJson | ErrorEventJson | ActionEventJson;

/** Full class paths, as the agent server's `kind` filter compares them. */
export const KIND_PATHS: Record<EventJson['kind'], string> = {
  MessageEvent: 'openhands.sdk.event.llm_convertible.message.MessageEvent',
  ConversationErrorEvent: 'openhands.sdk.event.conversation_error.ConversationErrorEvent',
  ActionEvent: 'openhands.sdk.event.llm_convertible.action.ActionEvent',
};

const SOURCE_OF_ROLE: Record<ChatMessage['role'], EventSource> = {
  user: 'user',
  assistant: 'agent',
  system: 'environment',
  tool: 'environment',
};

/** A UUID-shaped id, the same for the same inputs. */
function stableId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  // Shaped as a version-5-style UUID so clients that parse ids as UUIDs accept it.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

/** A ChatMessage in the SDK's `Message` shape. */
export function llmMessage(message: ChatMessage): Record<string, unknown> {
  const content: Record<string, unknown>[] = [];
  if (message.content !== null && message.content !== '') content.push({ type: 'text', text: message.content });
  const images: string[] = [];
  if (message.base64_image) {
    images.push(message.base64_image.startsWith('data:') ? message.base64_image : `data:image/png;base64,${message.base64_image}`);
  }
  const more = message.user_params?.image_urls;
  if (Array.isArray(more)) images.push(...more.filter((u): u is string => typeof u === 'string'));
  if (images.length) content.push({ type: 'image', image_urls: images });
  const out: Record<string, unknown> = { role: message.role, content };
  if (message.tool_calls?.length) {
    out.tool_calls = message.tool_calls.map((call) => ({
      id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      origin: 'completion',
    }));
  }
  if (message.tool_call_id !== undefined) out.tool_call_id = message.tool_call_id;
  if (message.name !== undefined) out.name = message.name;
  return out;
}

/**
 * The events of one timeline entry, in order: its message, the actions of its tool calls, and
 * (on a failed or cancelled turn's first entry) the turn's error. `ordinal`: the entry's index
 * among its turn's entries in position order (ids are made from it).
 */
export function entryEvents(view: SessionView, entry: TimelineEntry, ordinal: number): EventJson[] {
  const sid = view.session_id;
  const turn = entry.meta?.turn;
  const id = turn ? stableId(sid, 'turn', turn, String(ordinal)) : stableId(sid, 'seq', String(entry.seq));
  const timestamp = new Date(entry.meta?.at ?? Date.parse(view.created_at)).toISOString();
  const events: EventJson[] = [
    {
      kind: 'MessageEvent',
      id,
      timestamp,
      source: SOURCE_OF_ROLE[entry.message.role] ?? 'user',
      llm_message: llmMessage(entry.message),
      activated_skills: [],
      extended_content: [],
    },
  ];
  for (const call of entry.message.role === 'assistant' ? (entry.message.tool_calls ?? []) : []) {
    events.push({
      kind: 'ActionEvent',
      id: stableId(sid, 'action', id, call.id),
      timestamp,
      source: 'agent',
      thought: [],
      action: null,
      tool_name: call.function.name,
      tool_call_id: call.id,
      tool_call: { id: call.id, name: call.function.name, arguments: call.function.arguments, origin: 'completion' },
      llm_response_id: id,
      security_risk: 'UNKNOWN',
      summary: null,
    });
  }
  if (turn && (entry.status === 'failed' || entry.status === 'canceled') && ordinal === 0) {
    const cancelled = entry.status === 'canceled';
    const current = view.turn_id === turn && view.error ? view.error : null;
    events.push({
      kind: 'ConversationErrorEvent',
      id: stableId(sid, 'turn', turn, 'error'),
      timestamp,
      source: 'environment',
      code: cancelled ? 'TurnCancelled' : 'TurnFailed',
      detail: current ?? (cancelled ? 'Turn cancelled' : 'Turn failed'),
    });
  }
  return events;
}

/** An event with the entry it comes from and its index among that entry's events. */
export interface PlacedEvent {
  event: EventJson;
  entry: TimelineEntry;
  index: number;
}

/**
 * Every event of a timeline read whole, in time order (stable, so an entry's events stay
 * together: a message sent while a turn ran comes before that turn's reply, as in the agent
 * server's event log).
 */
export function placedEvents(view: SessionView, entries: TimelineEntry[]): PlacedEvent[] {
  const perTurn = new Map<string, number>();
  const placed: (PlacedEvent & { at: number; i: number })[] = [];
  for (const entry of entries) {
    const turn = entry.meta?.turn;
    const ordinal = turn ? (perTurn.get(turn) ?? 0) : 0;
    if (turn) perTurn.set(turn, ordinal + 1);
    entryEvents(view, entry, ordinal).forEach((event, index) => placed.push({ event, entry, index, at: Date.parse(event.timestamp), i: placed.length }));
  }
  return placed.sort((a, b) => a.at - b.at || a.i - b.i).map(({ event, entry, index }) => ({ event, entry, index }));
}

export function timelineEvents(view: SessionView, entries: TimelineEntry[]): EventJson[] {
  return placedEvents(view, entries).map((p) => p.event);
}

export interface EventFilter {
  kind?: string;
  source?: string;
  body?: string;
  gte?: number;
  lt?: number;
}

export function matches(event: EventJson, filter: EventFilter): boolean {
  if (filter.kind !== undefined && filter.kind !== event.kind && filter.kind !== KIND_PATHS[event.kind]) return false;
  if (filter.source !== undefined && filter.source !== event.source) return false;
  const at = Date.parse(event.timestamp);
  if (filter.gte !== undefined && at < filter.gte) return false;
  if (filter.lt !== undefined && at >= filter.lt) return false;
  if (filter.body !== undefined) {
    if (event.kind !== 'MessageEvent') return false;
    const parts = (event.llm_message.content as { type: string; text?: string }[]).filter((c) => c.type === 'text');
    const text = parts.map((c) => c.text ?? '').join(' ').toLowerCase();
    if (!text.includes(filter.body.toLowerCase())) return false;
  }
  return true;
}
