import { z } from 'zod';
import { ChatMessage } from '@baton/core';
import { AgentError, type Agent, type TurnInput } from './agent.ts';

/** The replies a user's HTTP agent may send: `{message: ChatMessage}`, or a bare ChatMessage. */
const WrappedReply = z.object({ message: z.looseObject({ content: z.string().nullable() }) });
const BareReply = z.looseObject({ content: z.string().nullable() });

const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * POSTs `{session_id, turn_id, messages}` to the user's agent URL and takes the
 * assistant message from the JSON reply.
 */
export class HttpAgent implements Agent {
  readonly name = 'http';

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async run({ sessionId, turnId, messages, signal }: TurnInput): Promise<ChatMessage> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Baton-Agent/0.1', ...this.headers },
        body: JSON.stringify({ session_id: sessionId, turn_id: turnId, messages }),
        redirect: 'error',
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new AgentError(`HTTP agent at ${this.url} could not be reached: ${(err as Error).message}`, { cause: err });
    }
    const text = await readCapped(res, MAX_REPLY_BYTES);
    if (!res.ok) {
      throw new AgentError(`HTTP agent answered ${res.status}: ${(text ?? '').slice(0, 200)}`);
    }
    if (text === null) throw new AgentError('HTTP agent reply is larger than 4 MiB');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new AgentError('HTTP agent reply is not JSON');
    }
    // Decide by which shape matched, not by the presence of a `message` key: a bare
    // reply may carry an unrelated `message` field (a string, null, a status object).
    const wrapped = WrappedReply.safeParse(body);
    const bare = wrapped.success ? null : BareReply.safeParse(body);
    const raw: Record<string, unknown> | null = wrapped.success ? wrapped.data.message : bare?.success ? bare.data : null;
    if (!raw) throw new AgentError('HTTP agent reply has no message: expected {content} or {message: {content}}');
    const message = ChatMessage.safeParse({ ...pick(raw), role: 'assistant' });
    if (!message.success) throw new AgentError(`HTTP agent reply is not a valid message: ${message.error.issues[0]?.message}`);
    return message.data;
  }
}

/** The body as text, or null once it passes `limit` bytes (the rest is not read). */
async function readCapped(res: Response, limit: number): Promise<string | null> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > limit) {
      await res.body.cancel().catch(() => {});
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function pick(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['content', 'tool_calls', 'name', 'user_params'] as const) if (key in raw) out[key] = raw[key];
  return out;
}
