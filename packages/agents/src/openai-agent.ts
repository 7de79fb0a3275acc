import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { ChatMessage } from '@baton/core';
import { AgentError, type Agent, type TurnInput } from './agent.ts';

export interface OpenAIAgentOptions {
  baseURL?: string;
  apiKey: string;
  model: string;
}

/** Any OpenAI-compatible Chat Completions endpoint, through the official client. */
export class OpenAIAgent implements Agent {
  readonly name = 'openai';
  private readonly client: OpenAI;

  constructor(private readonly options: OpenAIAgentOptions) {
    // Baton retries turns itself; the client must not hold a worker slot retrying.
    this.client = new OpenAI({ apiKey: options.apiKey, baseURL: options.baseURL, maxRetries: 0 });
  }

  async run({ messages, signal, onDelta }: TurnInput): Promise<ChatMessage> {
    const body = { model: this.options.model, messages: messages.map(toOpenAI) };
    try {
      if (onDelta) return await this.stream(body, signal, onDelta);
      return fromCompletion(await this.client.chat.completions.create(body, { signal }));
    } catch (err) {
      throw failure(err, signal);
    }
  }

  /** `stream: true`: each content delta goes to `onDelta`; the reply is put together as the chunks come. */
  private async stream(body: ChatCompletionCreateParamsNonStreaming, signal: AbortSignal, onDelta: (text: string) => void): Promise<ChatMessage> {
    const { data: stream, response } = await this.client.chat.completions.create({ ...body, stream: true }, { signal }).withResponse();
    // A server that ignores `stream: true` answers one JSON completion: take it whole.
    if ((response.headers.get('content-type') ?? '').startsWith('application/json')) {
      return fromCompletion((await response.json()) as ChatCompletion);
    }
    let content: string | null = null;
    let choices = 0;
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    for await (const chunk of stream) {
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      choices++;
      const delta = choice.delta ?? {};
      if (typeof delta.content === 'string') {
        content = (content ?? '') + delta.content;
        if (delta.content) onDelta(delta.content);
      }
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
    return reply(content, ordered);
  }
}

function fromCompletion(completion: ChatCompletion): ChatMessage {
  const choice = completion.choices?.[0]?.message;
  if (!choice) throw new AgentError('OpenAI-compatible endpoint returned no choices');
  const calls = (choice.tool_calls ?? [])
    .filter((c) => c.type === 'function')
    .map((c) => toolCall(c.id, c.function.name, c.function.arguments));
  return reply(choice.content ?? null, calls);
}

function toolCall(id: string, name: string, args: string): NonNullable<ChatMessage['tool_calls']>[number] {
  return { id, type: 'function' as const, function: { name, arguments: args } };
}

function reply(content: string | null, calls: NonNullable<ChatMessage['tool_calls']>): ChatMessage {
  const message: ChatMessage = { role: 'assistant', content };
  if (calls.length) message.tool_calls = calls;
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
      };
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
