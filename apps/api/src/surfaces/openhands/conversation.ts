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
/** The start request's `agent` and `workspace`, secrets masked (JSON). */
export const ATTR_AGENT = 'oh_agent';
export const ATTR_WORKSPACE = 'oh_workspace';
/** The confirmation policy last set with `POST …/confirmation_policy` (JSON), as shown. */
export const ATTR_CONFIRMATION_POLICY = 'oh_confirmation_policy';

/** Largest `agent` or `workspace` kept (JSON characters): every read of the session carries them. */
export const MAX_SPEC_CHARS = 32_768;

const SECRET_KEY = /api_?key|secret|token|password|credential/i;

/**
 * `value` as JSON with every string under a secret-looking key replaced by `**********`,
 * as the agent server shows its SecretStr fields; null when it is larger than MAX_SPEC_CHARS.
 */
export function maskedSpec(value: Record<string, unknown>): string | null {
  const text = JSON.stringify(value, (key, v: unknown) => (key && SECRET_KEY.test(key) && typeof v === 'string' ? '**********' : v));
  return text.length <= MAX_SPEC_CHARS ? text : null;
}

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
 * The agent server's ConversationInfo, with the fields Baton can fill honestly: `agent`
 * and `workspace` are what the start request sent (secrets masked; the session runs
 * Baton's own agent), `stats` has no LLM usage to report; `baton` carries Baton's view of
 * the session.
 */
export function conversationInfo(view: SessionView) {
  const agent = parseObject(view.attributes[ATTR_AGENT]);
  const workspace = parseObject(view.attributes[ATTR_WORKSPACE]);
  return {
    id: view.session_id,
    ...(agent ? { agent } : {}),
    ...(workspace ? { workspace } : {}),
    stats: { usage_to_metrics: {} },
    title: view.attributes[ATTR_TITLE] ?? null,
    tags: parseTags(view.attributes[ATTR_TAGS]),
    execution_status: executionStatus(view),
    confirmation_policy: parseObject(view.attributes[ATTR_CONFIRMATION_POLICY]) ?? { kind: 'NeverConfirm' },
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
  return (parseObject(raw) as Record<string, string> | null) ?? {};
}

function parseObject(raw: string | undefined): Record<string, unknown> | null {
  if (!raw) return null;
  try {
    const value = JSON.parse(raw) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
