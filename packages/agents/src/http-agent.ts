import { AgentError, type StepAgent, type StepInput, type StepResult } from './agent.ts';
import { parseStepReply } from './http-reply.ts';

const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * The built-in `http` agent: your agent behind a URL, called once per step with the v2
 * protocol (docs/agents-http.md). Baton POSTs
 * `{version: 2, session_id, turn_id, step_index, messages, config, user_params, resume?}` and
 * records the `{messages, interrupt?, done}` it answers, calling again until `done`. A v1
 * reply (`{content}` or `{message: {...}}`) is the turn's final message.
 */
export class HttpAgent implements StepAgent {
  readonly name = 'http';

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async step(input: StepInput): Promise<StepResult> {
    const { signal } = input;
    const body = {
      version: 2,
      session_id: input.sessionId,
      turn_id: input.turnId,
      step_index: input.stepIndex,
      messages: input.messages,
      config: input.config,
      user_params: input.userParams ?? null,
      ...(input.resume ? { resume: { interrupt: input.resume.interrupt, value: input.resume.value } } : {}),
    };
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Baton-Agent/0.2', ...this.headers },
        body: JSON.stringify(body),
        redirect: 'error',
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new AgentError(`HTTP agent at ${this.url} could not be reached: ${(err as Error).message}`, { cause: err });
    }
    const text = await readCapped(res, MAX_REPLY_BYTES).catch((err: unknown) => {
      if (signal.aborted) throw signal.reason;
      throw new AgentError(`HTTP agent reply could not be read: ${(err as Error).message}`, { cause: err });
    });
    if (!res.ok) {
      throw new AgentError(`HTTP agent answered ${res.status}: ${(text ?? '').slice(0, 200)}`);
    }
    if (text === null) throw new AgentError('HTTP agent reply is larger than 4 MiB');
    let reply: unknown;
    try {
      reply = JSON.parse(text);
    } catch {
      throw new AgentError('HTTP agent reply is not JSON');
    }
    return parseStepReply(reply);
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
