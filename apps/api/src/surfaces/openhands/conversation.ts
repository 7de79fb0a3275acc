import type { SessionView } from '@baton/core';

/** The agent server's `ConversationExecutionStatus` values. */
export const EXECUTION_STATUSES = [
  'idle',
  'running',
  'paused',
  'waiting_for_confirmation',
  'finished',
  'error',
  'stuck',
  'deleting',
] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** Session attributes this surface keeps. */
export const ATTR_TITLE = 'title';
export const ATTR_TAGS = 'tags';

/**
 * A session's status as an OpenHands execution status:
 * - a running turn → `running` (also after `pause`: the running turn finishes first);
 * - otherwise paused → `paused` (turns wait for `/run`);
 * - `interrupted` (the agent waits for a human answer) → `waiting_for_confirmation`;
 * - the last turn failed → `error` (a cancelled one leaves the session idle);
 * - idle → `idle` before any turn has answered, `finished` once one has.
 */
export function executionStatus(view: SessionView): ExecutionStatus {
  if (view.status === 'running') return 'running';
  if (view.paused) return 'paused';
  if (view.status === 'interrupted') return 'waiting_for_confirmation';
  if (view.status === 'error') return 'error';
  return view.response ? 'finished' : 'idle';
}

/**
 * The agent server's ConversationInfo, with the fields Baton can fill honestly.
 * Agent, workspace and LLM settings are not Baton's to report (the session's agent is
 * Baton's own), so they are left out; `baton` carries Baton's view of the session.
 */
export function conversationInfo(view: SessionView) {
  return {
    id: view.session_id,
    title: view.attributes[ATTR_TITLE] ?? null,
    tags: parseTags(view.attributes[ATTR_TAGS]),
    execution_status: executionStatus(view),
    confirmation_policy: { kind: 'NeverConfirm' },
    security_analyzer: null,
    activated_knowledge_skills: [] as string[],
    metrics: null,
    created_at: view.created_at,
    updated_at: view.updated_at,
    baton: {
      agent: view.agent,
      status: view.status,
      paused: view.paused,
      error: view.error,
      total_messages: view.total_messages,
      pending_messages: view.pending_messages,
    },
  };
}

function parseTags(raw: string | undefined): Record<string, string> {
  if (!raw) return {};
  try {
    const tags = JSON.parse(raw) as unknown;
    return typeof tags === 'object' && tags !== null && !Array.isArray(tags) ? (tags as Record<string, string>) : {};
  } catch {
    return {};
  }
}
