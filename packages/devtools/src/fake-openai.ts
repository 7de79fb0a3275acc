import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted answer of the fake model. */
export interface ScriptedReply {
  content?: string | null;
  /** Tool calls; an empty or missing `id` is sent as none (as some servers do). */
  tool_calls?: { id?: string; name: string; arguments: string }[];
  reasoning?: string;
  reasoning_details?: Record<string, unknown>[];
  /** Answer with this HTTP status and an OpenAI error body instead. */
  status?: number;
  error?: string;
}

export interface FakeOpenAIRequest {
  url: string;
  headers: IncomingHttpHeaders;
  body: any;
}

/**
 * A real OpenAI-compatible Chat Completions server on 127.0.0.1 for tests:
 * `POST /v1/chat/completions` answers each request with the next scripted reply (or, when
 * none is queued, `respond(request)`), as the real API does: SSE chunks when the request
 * asks for `stream: true` (content in pieces, each tool call's arguments over two chunks,
 * parallel calls one after another, a last chunk with `finish_reason`, then `[DONE]`), one
 * JSON completion otherwise. Every request is recorded in `requests`.
 */
export class FakeOpenAI {
  readonly requests: FakeOpenAIRequest[] = [];
  private readonly queue: ScriptedReply[] = [];
  respond: (request: FakeOpenAIRequest) => ScriptedReply = () => ({ status: 500, error: 'no scripted reply left' });

  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakeOpenAI> {
    const fake: FakeOpenAI = new FakeOpenAI(
      createServer((req, res) => {
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (text += chunk));
        req.on('end', () => {
          const request = { url: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : null };
          if (req.method !== 'POST' || request.url !== '/v1/chat/completions') return void res.writeHead(404).end();
          fake.requests.push(request);
          answer(fake.queue.shift() ?? fake.respond(request), request.body, res);
        });
      }),
    );
    fake.server.listen(0, '127.0.0.1');
    await once(fake.server, 'listening');
    return fake;
  }

  /** The base URL to give the client (OPENAI_BASE_URL): `http://127.0.0.1:<port>/v1`. */
  get baseURL(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  /** Queues replies, answered in order. */
  script(...replies: ScriptedReply[]): this {
    this.queue.push(...replies);
    return this;
  }

  /** Forgets queued replies and recorded requests. */
  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

function answer(reply: ScriptedReply, body: any, res: ServerResponse): void {
  if (reply.status && reply.status >= 400) {
    res.writeHead(reply.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: reply.error ?? 'scripted failure', type: 'server_error' } }));
    return;
  }
  const calls = (reply.tool_calls ?? []).map((c, index) => ({ index, id: c.id ?? '', name: c.name, arguments: c.arguments }));
  const finish = calls.length ? 'tool_calls' : 'stop';
  const model = body?.model ?? 'fake-model';
  if (!body?.stream) {
    const message: Record<string, unknown> = { role: 'assistant', content: reply.content ?? null, refusal: null };
    if (calls.length) message.tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
    if (reply.reasoning !== undefined) message.reasoning = reply.reasoning;
    if (reply.reasoning_details) message.reasoning_details = reply.reasoning_details;
    const completion = { id: 'chatcmpl-fake', object: 'chat.completion', created: 1_700_000_000, model, choices: [{ index: 0, message, finish_reason: finish, logprobs: null }] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (delta: Record<string, unknown>, finishReason: string | null = null) => {
    const chunk = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] };
    res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  };
  send({ role: 'assistant', content: '' });
  if (reply.reasoning) for (const piece of pieces(reply.reasoning)) send({ reasoning: piece });
  if (reply.reasoning_details) for (const detail of reply.reasoning_details) send({ reasoning_details: [detail] });
  if (reply.content) for (const piece of pieces(reply.content)) send({ content: piece });
  for (const call of calls) {
    const cut = Math.ceil(call.arguments.length / 2);
    send({ tool_calls: [{ index: call.index, ...(call.id ? { id: call.id } : {}), type: 'function', function: { name: call.name, arguments: call.arguments.slice(0, cut) } }] });
    send({ tool_calls: [{ index: call.index, function: { arguments: call.arguments.slice(cut) } }] });
  }
  send({}, finish);
  res.end('data: [DONE]\n\n');
}

/** "Hello, big world" → ["Hello,", " big", " world"]. */
function pieces(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [text];
}
