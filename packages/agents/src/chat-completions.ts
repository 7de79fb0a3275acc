import type OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type { ChatMessage } from '@baton/core';
import { AgentError } from './agent.ts';

type ToolCallOut = NonNullable<ChatMessage['tool_calls']>[number];
type ReasoningDetails = NonNullable<ChatMessage['reasoning_details']>;

/** Reasoning fields some OpenAI-compatible servers add to a message or a delta (OpenRouter, DeepSeek, vLLM). */
interface ReasoningFields {
  reasoning?: unknown;
  reasoning_content?: unknown;
  reasoning_details?: unknown;
}

/**
 * One Chat Completions call: `stream: true` when `onDelta` is given (each content delta goes
 * to it, the reply is put together as the chunks come), else one JSON completion. The reply
 * is an assistant message with its `tool_calls`, `reasoning` and `reasoning_details`, if any.
 */
export async function completeChat(
  client: OpenAI,
  body: ChatCompletionCreateParamsNonStreaming,
  signal: AbortSignal,
  onDelta?: (text: string) => void,
): Promise<ChatMessage> {
  try {
    if (onDelta) return await stream(client, body, signal, onDelta);
    return fromCompletion(await client.chat.completions.create(body, { signal }));
  } catch (err) {
    throw failure(err, signal);
  }
}

async function stream(
  client: OpenAI,
  body: ChatCompletionCreateParamsNonStreaming,
  signal: AbortSignal,
  onDelta: (text: string) => void,
): Promise<ChatMessage> {
  const { data: chunks, response } = await client.chat.completions.create({ ...body, stream: true }, { signal }).withResponse();
  // A server that ignores `stream: true` answers one JSON completion: take it whole.
  if ((response.headers.get('content-type') ?? '').startsWith('application/json')) {
    return fromCompletion((await response.json()) as ChatCompletion);
  }
  let content: string | null = null;
  let reasoning: string | null = null;
  const details: ReasoningDetails = [];
  let choices = 0;
  const calls = new Map<number, { id: string; name: string; arguments: string }>();
  for await (const chunk of chunks) {
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    choices++;
    const delta = (choice.delta ?? {}) as typeof choice.delta & ReasoningFields;
    if (typeof delta.content === 'string') {
      content = (content ?? '') + delta.content;
      if (delta.content) onDelta(delta.content);
    }
    const thought = reasoningText(delta);
    if (thought !== null) reasoning = (reasoning ?? '') + thought;
    if (Array.isArray(delta.reasoning_details)) details.push(...objects(delta.reasoning_details));
    for (const part of delta.tool_calls ?? []) {
      const call = calls.get(part.index) ?? { id: '', name: '', arguments: '' };
      if (part.id) call.id = part.id;
      if (part.function?.name) call.name = part.function.name;
      if (part.function?.arguments) call.arguments += part.function.arguments;
      calls.set(part.index, call);
    }
  }
  // An abort ends the client's iteration quietly: the reply would look complete.
  signal.throwIfAborted();
  if (choices === 0) throw new AgentError('OpenAI-compatible endpoint returned no choices');
  const ordered = [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => toolCall(c.id, c.name, c.arguments));
  return reply(content, ordered, reasoning, details.length ? details : null);
}

function fromCompletion(completion: ChatCompletion): ChatMessage {
  const message = completion.choices?.[0]?.message as (ChatCompletion['choices'][number]['message'] & ReasoningFields) | undefined;
  if (!message) throw new AgentError('OpenAI-compatible endpoint returned no choices');
  const calls = (message.tool_calls ?? [])
    .filter((c) => c.type === 'function')
    .map((c) => toolCall(c.id, c.function.name, c.function.arguments));
  const details = Array.isArray(message.reasoning_details) ? objects(message.reasoning_details) : [];
  return reply(message.content ?? null, calls, reasoningText(message), details.length ? details : null);
}

/** `reasoning` (OpenRouter) or `reasoning_content` (DeepSeek, vLLM). */
function reasoningText(fields: ReasoningFields): string | null {
  if (typeof fields.reasoning === 'string') return fields.reasoning;
  if (typeof fields.reasoning_content === 'string') return fields.reasoning_content;
  return null;
}

function objects(items: unknown[]): ReasoningDetails {
  return items.filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null && !Array.isArray(i));
}

function toolCall(id: string, name: string, args: string): ToolCallOut {
  return { id, type: 'function' as const, function: { name, arguments: args } };
}

function reply(content: string | null, calls: ToolCallOut[], reasoning: string | null, details: ReasoningDetails | null): ChatMessage {
  const message: ChatMessage = { role: 'assistant', content };
  if (calls.length) message.tool_calls = calls;
  if (reasoning) message.reasoning = reasoning;
  if (details) message.reasoning_details = details;
  return message;
}

/** The signal's reason when the turn was stopped; otherwise an AgentError saying what failed. */
function failure(err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  if (err instanceof AgentError) return err;
  const status = (err as { status?: number }).status;
  const detail = err instanceof Error ? err.message : String(err);
  return new AgentError(`OpenAI-compatible endpoint failed${status ? ` (HTTP ${status})` : ''}: ${detail}`, { cause: err });
}

/**
 * A history message as Chat Completions takes it. `reasoning_details` go back on assistant
 * messages (OpenRouter's round trip; they are only there when the provider sent them).
 */
export function toOpenAI(m: ChatMessage): ChatCompletionMessageParam {
  const content = m.content ?? '';
  switch (m.role) {
    case 'system':
      return { role: 'system', content, ...(m.name ? { name: m.name } : {}) };
    case 'tool':
      return { role: 'tool', content, tool_call_id: m.tool_call_id ?? '' };
    case 'assistant':
      return {
        role: 'assistant',
        content: m.content,
        ...(m.name ? { name: m.name } : {}),
        ...(m.tool_calls?.length ? { tool_calls: m.tool_calls } : {}),
        ...(m.reasoning_details?.length ? { reasoning_details: m.reasoning_details } : {}),
      } as ChatCompletionMessageParam;
    default:
      if (m.base64_image) {
        const url = m.base64_image.startsWith('data:') ? m.base64_image : `data:image/png;base64,${m.base64_image}`;
        return {
          role: 'user',
          content: [
            { type: 'text', text: content },
            { type: 'image_url', image_url: { url } },
          ],
          ...(m.name ? { name: m.name } : {}),
        };
      }
      return { role: 'user', content, ...(m.name ? { name: m.name } : {}) };
  }
}

/**
 * The history as Chat Completions takes it, made consistent: a tool call with no recorded
 * result (a turn that ended before it ran: a step limit, an error, a cancel) gets one saying
 * so, since the endpoint refuses an assistant's tool calls without their tool messages.
 */
export function toOpenAIHistory(history: ChatMessage[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  for (let i = 0; i < history.length; i++) {
    const m = history[i] as ChatMessage;
    out.push(toOpenAI(m));
    if (m.role !== 'assistant' || !m.tool_calls?.length) continue;
    const answered = new Set<string>();
    let j = i + 1;
    for (; j < history.length && history[j]?.role === 'tool'; j++) answered.add(history[j]?.tool_call_id ?? '');
    for (; i + 1 < j; i++) out.push(toOpenAI(history[i + 1] as ChatMessage));
    for (const call of m.tool_calls) {
      if (!answered.has(call.id)) out.push({ role: 'tool', content: 'Error: no result (the turn ended before this call ran)', tool_call_id: call.id });
    }
  }
  return out;
}
