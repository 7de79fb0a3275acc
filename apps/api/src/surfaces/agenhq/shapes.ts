import { createHash } from 'node:crypto';
import type { SessionView } from '@baton/core';
import type { TimelineEntry } from '@baton/store';

/**
 * agenhq's shapes, built from Baton's session views and timelines. An agenhq session IS
 * a Baton session: the fields agenhq has and Baton lacks are kept in the session's
 * `attributes` (title, branch_name, auto_commit, model) or given fixed values.
 */

/** agenhq Session (docs.agenhq.com: coding-agent-api/schemas/session). */
export interface AgenhqSession {
  id: string;
  title: string;
  workspace_id: string;
  user_id: string;
  branch_name: string | null;
  auto_commit: boolean;
  /** Lifecycle: `active`, or `archived` once the session is read-only for good. */
  status: 'active' | 'archived';
  origin: 'api';
  created_at: string;
  updated_at: string;
  sandbox_id: null;
  model: string;
  /** Execution: `working` while a turn runs, else `idle` / `paused` / `waiting_for_input` / `error`. */
  agent_status: AgentStatus;
  merged_at: null;
  deep_work_id: null;
}

export type AgentStatus = 'working' | 'idle' | 'paused' | 'waiting_for_input' | 'error';

/** The attributes this surface writes on the sessions it creates. */
export const ATTR = { title: 'title', branch: 'branch_name', autoCommit: 'auto_commit', model: 'model' } as const;

/** Who owns a session when auth is off (tenant ''). */
export const DEFAULT_WORKSPACE = 'default';

export function agentStatus(view: SessionView): AgentStatus {
  switch (view.status) {
    case 'running':
      return 'working';
    case 'interrupted':
      return 'waiting_for_input';
    default:
      if (view.paused && !view.archived) return 'paused';
      return view.status === 'error' ? 'error' : 'idle';
  }
}

export function toSession(view: SessionView): AgenhqSession {
  const attrs = view.attributes;
  const owner = view.tenant || DEFAULT_WORKSPACE;
  return {
    id: view.session_id,
    title: attrs[ATTR.title] ?? '',
    workspace_id: owner,
    user_id: owner,
    branch_name: attrs[ATTR.branch] ?? null,
    auto_commit: attrs[ATTR.autoCommit] === 'true',
    status: view.archived ? 'archived' : 'active',
    origin: 'api',
    created_at: view.created_at,
    updated_at: view.updated_at,
    sandbox_id: null,
    model: attrs[ATTR.model] ?? view.agent,
    agent_status: agentStatus(view),
    merged_at: null,
    deep_work_id: null,
  };
}

export type EventType = 'user_message' | 'agent_message' | 'system_message' | 'agent_ask_user' | 'user_ask_user_response';
export type EventStatus = 'completed' | 'queued' | 'processing' | 'canceled';

/** agenhq session event (the send-message response and each item of the timeline). */
export interface AgenhqEvent {
  id: string;
  session_id: string;
  type: EventType;
  /** `{type, message}`; an `agent_ask_user` payload also carries the `question` as the agent gave it. */
  payload: { type: EventType; message: string; [field: string]: unknown };
  status: EventStatus;
  client_id: string | null;
  session_goal_id: null;
  session_task_id: null;
  created_at: string;
  updated_at: string;
}

const EVENT_TYPES: Record<string, EventType | undefined> = {
  user: 'user_message',
  assistant: 'agent_message',
  system: 'system_message',
  // `tool` results have no agenhq event type: they are left out of the timeline.
};

/**
 * A user message's status is its turn's: `processing` while it runs, `queued` while it
 * waits, `canceled` when the turn was cancelled, `completed` otherwise (a failed turn is
 * `completed` too: agenhq has no failed status; the session's `agent_status` says `error`).
 */
export function eventStatus(entry: TimelineEntry): EventStatus {
  if (entry.message.role !== 'user') return 'completed';
  return entry.status === 'failed' ? 'completed' : entry.status;
}

/**
 * Stable event ids. A message that started a turn is named by its turn id (the id the
 * send-message route answers with, before the message even reaches the history); every
 * other history message by a name-based UUID of the session id and its position, which
 * never changes (the history only grows).
 */
export function eventId(sessionId: string, entry: TimelineEntry): string {
  const turn = entry.meta?.turn;
  if (turn && entry.message.role === 'user') return turn;
  return nameUuid(`${sessionId}:${entry.seq}`);
}

/**
 * The session's timeline as agenhq events, oldest first. `fallbackAt` dates messages stored
 * without metadata; `later`: entries after a page, read only for its turns' replies.
 */
export function toEvents(sessionId: string, entries: TimelineEntry[], fallbackAt: string, later: TimelineEntry[] = []): AgenhqEvent[] {
  // A user message's event is updated when its turn's reply arrives.
  const repliedAt = new Map<string, number>();
  for (const entry of [...entries, ...later]) {
    const turn = entry.meta?.turn;
    if (turn && entry.message.role === 'assistant') repliedAt.set(turn, entry.meta?.at ?? 0);
  }
  const events: AgenhqEvent[] = [];
  for (const entry of entries) {
    const type = EVENT_TYPES[entry.message.role];
    if (!type) continue;
    const created = entry.meta ? new Date(entry.meta.at).toISOString() : fallbackAt;
    const turn = entry.meta?.turn;
    const reply = type === 'user_message' && turn ? repliedAt.get(turn) : undefined;
    events.push(
      toEvent(sessionId, {
        id: eventId(sessionId, entry),
        type,
        message: entry.message.content ?? '',
        status: eventStatus(entry),
        clientId: entry.meta?.client_id ?? null,
        createdAt: created,
        updatedAt: reply ? new Date(reply).toISOString() : created,
      }),
    );
  }
  return events;
}

export function toEvent(
  sessionId: string,
  e: { id: string; type: EventType; message: string; status: EventStatus; clientId: string | null; createdAt: string; updatedAt: string },
): AgenhqEvent {
  return {
    id: e.id,
    session_id: sessionId,
    type: e.type,
    payload: { type: e.type, message: e.message },
    status: e.status,
    client_id: e.clientId,
    session_goal_id: null,
    session_task_id: null,
    created_at: e.createdAt,
    updated_at: e.updatedAt,
  };
}

/** A UUID (version 5 layout) derived from `name`: the same name always gives the same id. */
export function nameUuid(name: string): string {
  const bytes = createHash('sha1').update('baton/agenhq/event\n').update(name).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
