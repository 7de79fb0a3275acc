import type { InterruptInfo, SessionStatus, SessionView } from '@baton/core';
import { decodeMessage } from './message-record.ts';
import { indexMember } from './session-expiry.ts';

/** A session hash's fields as the API shows them, and the agent config a claim hands the worker. */

/** The listing cursor just after this session: its member in the creation-ordered index. */
export function listCursor(view: SessionView): string {
  return indexMember(Date.parse(view.created_at), view.session_id);
}

export function toView(sessionId: string, f: (string | number | null)[]): SessionView {
  const [status, agent, turnId, response, error, createdAt, updatedAt, tenant, , paused, archived, attrs] = f as (string | null)[];
  const interrupt = status === 'interrupted' ? (f[14] as string | null) : null;
  const running = status === 'running';
  return {
    session_id: sessionId,
    status: status as SessionStatus,
    response: !running && response ? decodeMessage(response) : null,
    error: !running && error ? error : null,
    agent: agent ?? 'echo',
    tenant: tenant ?? '',
    paused: Boolean(paused),
    archived: Boolean(archived),
    attributes: attrs ? (JSON.parse(attrs) as Record<string, string>) : {},
    total_messages: Number(f[12] ?? 0),
    pending_messages: Number(f[13] ?? 0),
    turn_id: turnId || null,
    interrupts: interrupt ? [JSON.parse(interrupt) as InterruptInfo] : [],
    created_at: new Date(Number(createdAt)).toISOString(),
    updated_at: new Date(Number(updatedAt)).toISOString(),
  };
}

/** Session attribute holding a confirmation policy set after create ('true' | 'false'). */
export const ATTR_CONFIRM_TOOL_CALLS = 'confirm_tool_calls';

/** The agent config with the session's confirmation policy, when one was set, as `confirm_tool_calls`. */
export function withPolicy(config: Record<string, unknown>, attrs: string | null): Record<string, unknown> {
  if (!attrs) return config;
  let policy: unknown;
  try {
    policy = (JSON.parse(attrs) as Record<string, unknown>)[ATTR_CONFIRM_TOOL_CALLS];
  } catch {
    return config;
  }
  if (policy === 'true') return { ...config, confirm_tool_calls: true };
  if (policy === 'false') return { ...config, confirm_tool_calls: false };
  return config;
}
