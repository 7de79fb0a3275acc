import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
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

  async run({ messages, signal }: TurnInput): Promise<ChatMessage> {
    let completion;
    try {
      completion = await this.client.chat.completions.create(
        { model: this.options.model, messages: messages.map(toOpenAI) },
        { signal },
      );
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const status = (err as { status?: number }).status;
      const detail = err instanceof Error ? err.message : String(err);
      throw new AgentError(`OpenAI-compatible endpoint failed${status ? ` (HTTP ${status})` : ''}: ${detail}`, { cause: err });
    }
    const choice = completion.choices[0]?.message;
    if (!choice) throw new AgentError('OpenAI-compatible endpoint returned no choices');
    const reply: ChatMessage = { role: 'assistant', content: choice.content ?? null };
    if (choice.tool_calls?.length) {
      reply.tool_calls = choice.tool_calls
        .filter((c) => c.type === 'function')
        .map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.function.name, arguments: c.function.arguments } }));
    }
    return reply;
  }
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
