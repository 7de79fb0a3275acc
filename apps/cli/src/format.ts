import type { ChatMessage, SessionResponse } from '@baton/client';

/** One history line: `role: content`, or the whole message as JSON when it carries tool calls or no text. */
export function messageLine(message: ChatMessage): string {
  const content = typeof message.content === 'string' && !message.tool_calls?.length ? message.content : JSON.stringify(message);
  return `${message.role}: ${content}`;
}

/** `baton show`: the session as `field  value` lines, its interrupts and how to answer them. */
export function sessionLines(view: SessionResponse): string[] {
  const rows: [string, string][] = [
    ['session', view.session_id],
    ['status', view.status],
    ['agent', view.agent],
    ['messages', String(view.total_messages)],
    ['pending', String(view.pending_messages)],
    ['created', view.created_at],
    ['updated', view.updated_at],
  ];
  if (view.error) rows.push(['error', view.error]);
  if (view.response) rows.push(['response', messageLine(view.response)]);
  const width = Math.max(...rows.map(([field]) => field.length));
  const lines = rows.map(([field, value]) => `${field.padEnd(width)}  ${value}`);
  for (const interrupt of view.interrupts ?? []) {
    lines.push(`interrupt ${interrupt.interrupt_id} (${interrupt.type}): ${JSON.stringify(interrupt.payload)}`);
    const answer = interrupt.type === 'tool_approval' ? '--approve | --deny [reason]' : '<value-json>';
    lines.push(`  answer: baton resume ${view.session_id} ${interrupt.interrupt_id} ${answer}`);
  }
  return lines;
}
