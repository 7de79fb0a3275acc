import { z } from 'zod';
import { ChatMessage } from '@baton/core';
import { AgentError, type StepResult } from './agent.ts';

/** The most messages one v2 reply may carry. */
export const MAX_STEP_MESSAGES = 128;

/** v1: `{message: ChatMessage}`, or a bare ChatMessage (`{content}`). */
const WrappedReply = z.object({ message: z.looseObject({ content: z.string().nullable() }) });
const BareReply = z.looseObject({ content: z.string().nullable() });

/** v2: `{messages, interrupt?, done}`; each message a strict ChatMessage of role assistant or tool. */
const StepMessage = ChatMessage.extend({ role: z.enum(['assistant', 'tool'], 'must be "assistant" or "tool"') }).refine(
  (m) => m.role !== 'tool' || Boolean(m.tool_call_id),
  { message: 'a tool message needs its tool_call_id', path: ['tool_call_id'] },
);
const StepReply = z.strictObject({
  messages: z.array(StepMessage).max(MAX_STEP_MESSAGES),
  interrupt: z
    .strictObject({ type: z.enum(['tool_approval', 'user_input']), payload: z.unknown().optional() })
    .nullable()
    .optional(),
  done: z.boolean('must be true or false'),
});

/**
 * A user's HTTP agent's answer as a step. A body with `messages` or `done` is a v2 reply and
 * is checked strictly; otherwise it is a v1 reply (`{content}` or `{message: {...}}`), taken as
 * the turn's final message. Throws an AgentError saying what is wrong.
 */
export function parseStepReply(body: unknown): StepResult {
  if (body && typeof body === 'object' && !Array.isArray(body) && ('messages' in body || 'done' in body)) return parseV2(body);
  return { messages: [parseV1(body)], done: true };
}

function parseV2(body: object): StepResult {
  const parsed = StepReply.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(reply)';
    throw new AgentError(`HTTP agent reply is not a valid v2 step: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const { messages, interrupt, done } = parsed.data;
  if (done && interrupt) throw new AgentError('HTTP agent reply is not a valid v2 step: an interrupt needs done: false');
  if (done && messages[messages.length - 1]?.role !== 'assistant') {
    throw new AgentError('HTTP agent reply is not a valid v2 step: done: true needs messages ending with the assistant reply');
  }
  if (!done && !interrupt && messages.length === 0) {
    throw new AgentError('HTTP agent reply is not a valid v2 step: done: false needs messages or an interrupt');
  }
  const result: StepResult = { messages: messages.map(compact), done };
  if (interrupt) result.interrupt = { type: interrupt.type, payload: interrupt.payload ?? null };
  return result;
}

function parseV1(body: unknown): ChatMessage {
  // Decide by which shape matched, not by the presence of a `message` key: a bare
  // reply may carry an unrelated `message` field (a string, null, a status object).
  const wrapped = WrappedReply.safeParse(body);
  const bare = wrapped.success ? null : BareReply.safeParse(body);
  const raw: Record<string, unknown> | null = wrapped.success ? wrapped.data.message : bare?.success ? bare.data : null;
  if (!raw) throw new AgentError('HTTP agent reply has no message: expected {content} or {message: {content}} (v1), or {messages, done} (v2)');
  const message = ChatMessage.safeParse({ ...pick(raw), role: 'assistant' });
  if (!message.success) throw new AgentError(`HTTP agent reply is not a valid message: ${message.error.issues[0]?.message}`);
  return message.data;
}

const V1_FIELDS = ['content', 'tool_calls', 'name', 'user_params', 'reasoning', 'reasoning_details'] as const;

function pick(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of V1_FIELDS) if (key in raw) out[key] = raw[key];
  return out;
}

/** Drops the defaults zod filled in, so a recorded message keeps only what the agent sent. */
function compact(m: z.infer<typeof StepMessage>): ChatMessage {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as ChatMessage;
}
