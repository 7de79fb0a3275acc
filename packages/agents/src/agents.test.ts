import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '@baton/core';
import { AgentError, EchoAgent, HttpAgent, OpenAIAgent, toOpenAI, type StepAgent, type TurnInput } from './index.ts';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: any;
}
type Handler = (req: Received, res: ServerResponse) => void;

/**
 * A real HTTP server on 127.0.0.1 that records every request and answers with
 * `handler`. Emits `request` once a body is read and `aborted` when the client
 * drops a request that was never answered.
 */
class FakeServer {
  readonly received: Received[] = [];
  readonly events = new EventEmitter();
  handler: Handler = (_req, res) => json(res, 200, { content: 'default' });

  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakeServer> {
    const fake: FakeServer = new FakeServer(
      createServer((req, res) => {
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (text += chunk));
        req.on('end', () => {
          const received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined };
          fake.received.push(received);
          res.once('close', () => {
            if (!res.writableFinished) fake.events.emit('aborted', received);
          });
          fake.events.emit('request', received);
          fake.handler(received, res);
        });
      }),
    );
    fake.server.listen(0, '127.0.0.1');
    await once(fake.server, 'listening');
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(handler: Handler): void {
    this.received.length = 0;
    this.handler = handler;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const hang: Handler = () => {};

function turn(messages: ChatMessage[], signal: AbortSignal = new AbortController().signal): TurnInput {
  return { sessionId: 'sess-1', turnId: 'turn-1', messages, signal };
}

/** The error `promise` rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  return outcome.err as Error;
}

/** The message one step answers: a whole turn for these agents when no tool is called. */
async function oneStep(agent: StepAgent, input: TurnInput): Promise<ChatMessage> {
  const result = await agent.step({ ...input, config: {}, stepIndex: 0, turnStart: input.messages.length });
  expect(result.messages).toHaveLength(1);
  return result.messages[0] as ChatMessage;
}

const user = (content: string): ChatMessage => ({ role: 'user', content });
const CALL = { id: 'call_1', type: 'function' as const, function: { name: 'lookup', arguments: '{"q":"x"}' } };

describe('EchoAgent', () => {
  it('answers `echo: <last content>`, the same every time', async () => {
    const agent = new EchoAgent();
    const history = [user('first'), { role: 'assistant' as const, content: 'echo: first' }, user('second')];
    expect(await agent.run(turn(history))).toStrictEqual({ role: 'assistant', content: 'echo: second' });
    expect(await agent.run(turn(history))).toStrictEqual({ role: 'assistant', content: 'echo: second' });
    expect(await agent.run(turn([]))).toStrictEqual({ role: 'assistant', content: 'echo: ' });
    expect(await agent.run(turn([{ role: 'user', content: null }]))).toStrictEqual({ role: 'assistant', content: 'echo: ' });
  });

  it('waits delayMs before answering', async () => {
    const started = performance.now();
    const reply = await new EchoAgent(150).run(turn([user('slow')]));
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    expect(reply.content).toBe('echo: slow');
  });

  it('stops waiting as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const running = new EchoAgent(60_000).run(turn([user('x')], controller.signal));
    controller.abort('cancelled');
    const err = await rejection(running);
    expect(err.name).toBe('AbortError');
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('refuses a turn whose signal is already aborted, even without a delay', async () => {
    const reason = new Error('already stopped');
    expect(await rejection(new EchoAgent(0).run(turn([user('x')], AbortSignal.abort(reason))))).toBe(reason);
  });
});

describe('toOpenAI', () => {
  it('maps system and tool messages, with empty content for null', () => {
    expect(toOpenAI({ role: 'system', content: 'be brief' })).toStrictEqual({ role: 'system', content: 'be brief' });
    expect(toOpenAI({ role: 'system', content: null })).toStrictEqual({ role: 'system', content: '' });
    expect(toOpenAI({ role: 'tool', content: '42', tool_call_id: 'call_1', name: 'lookup' })).toStrictEqual({
      role: 'tool',
      content: '42',
      tool_call_id: 'call_1',
    });
  });

  it('maps user messages, keeping name only when given', () => {
    expect(toOpenAI({ role: 'user', content: 'hi' })).toStrictEqual({ role: 'user', content: 'hi' });
    expect(toOpenAI({ role: 'user', content: 'hi', name: 'ada', user_params: { x: 1 } })).toStrictEqual({
      role: 'user',
      content: 'hi',
      name: 'ada',
    });
  });

  it('maps assistant messages, keeping null content and tool_calls', () => {
    expect(toOpenAI({ role: 'assistant', content: 'hello' })).toStrictEqual({ role: 'assistant', content: 'hello' });
    expect(toOpenAI({ role: 'assistant', content: null, tool_calls: [CALL] })).toStrictEqual({
      role: 'assistant',
      content: null,
      tool_calls: [CALL],
    });
    expect(toOpenAI({ role: 'assistant', content: 'x', tool_calls: [] })).toStrictEqual({ role: 'assistant', content: 'x' });
  });

  it('turns base64_image into a text part plus an image_url data URL', () => {
    expect(toOpenAI({ role: 'user', content: 'what is this?', base64_image: 'aGVsbG8=' })).toStrictEqual({
      role: 'user',
      content: [
        { type: 'text', text: 'what is this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,aGVsbG8=' } },
      ],
    });
    const jpeg = 'data:image/jpeg;base64,/9j/4AAQ';
    expect(toOpenAI({ role: 'user', content: null, base64_image: jpeg, name: 'ada' })).toStrictEqual({
      role: 'user',
      content: [
        { type: 'text', text: '' },
        { type: 'image_url', image_url: { url: jpeg } },
      ],
      name: 'ada',
    });
  });
});

describe('HttpAgent', () => {
  let fake: FakeServer;
  beforeAll(async () => {
    fake = await FakeServer.start();
  });
  afterAll(() => fake?.close());
  beforeEach(() => fake.reset((_req, res) => json(res, 200, { content: 'default' })));

  it('sends the v2 request {version: 2, session_id, turn_id, step_index, messages, config, user_params} as JSON with the configured bearer header', async () => {
    const history = [{ role: 'system' as const, content: 'rules' }, user('hi')];
    fake.reset((_req, res) => json(res, 200, { content: 'hello back' }));
    const reply = await oneStep(new HttpAgent(`${fake.url}/agent`, { authorization: 'Bearer tok-123' }), turn(history));
    expect(reply).toStrictEqual({ role: 'assistant', content: 'hello back' });
    expect(fake.received).toHaveLength(1);
    const [req] = fake.received;
    expect(req).toMatchObject({ method: 'POST', url: '/agent' });
    expect(req?.headers.authorization).toBe('Bearer tok-123');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.body).toStrictEqual({
      version: 2,
      session_id: 'sess-1',
      turn_id: 'turn-1',
      step_index: 0,
      messages: history,
      config: {},
      user_params: null,
    });
  });

  it('sends no authorization header when no token is configured', async () => {
    await oneStep(new HttpAgent(fake.url), turn([user('hi')]));
    expect(fake.received[0]?.headers).not.toHaveProperty('authorization');
  });

  it('accepts {message: {...}}, forces role assistant and keeps only ChatMessage fields', async () => {
    fake.reset((_req, res) =>
      json(res, 200, { message: { role: 'user', content: null, tool_calls: [CALL], name: 'bot', tool_call_id: 'no', extra: 1 } }),
    );
    expect(await oneStep(new HttpAgent(fake.url), turn([user('hi')]))).toStrictEqual({
      role: 'assistant',
      content: null,
      tool_calls: [CALL],
      name: 'bot',
    });
  });

  it('takes a bare {content} reply even when it also carries an unrelated `message` field', async () => {
    for (const message of ['ok', null, { status: 1 }]) {
      fake.reset((_req, res) => json(res, 200, { content: 'the answer', message }));
      const reply = await oneStep(new HttpAgent(fake.url), turn([user('hi')]));
      expect(reply, JSON.stringify(message)).toStrictEqual({ role: 'assistant', content: 'the answer' });
    }
  });

  it('turns a non-2xx reply into an AgentError with the status and the start of the body', async () => {
    fake.reset((_req, res) => res.writeHead(503).end('upstream overloaded'));
    const err = await rejection(oneStep(new HttpAgent(fake.url), turn([user('hi')])));
    expect(err).toBeInstanceOf(AgentError);
    expect(err.message).toBe('HTTP agent answered 503: upstream overloaded');
  });

  it('turns replies that are not JSON, have no message or an invalid one into AgentErrors', async () => {
    const cases: [string, RegExp][] = [
      ['<html>oops</html>', /^HTTP agent reply is not JSON$/],
      [JSON.stringify({ reply: 'hi' }), /^HTTP agent reply has no message: expected \{content\} or \{message: \{content\}\} \(v1\), or \{messages, done\} \(v2\)$/],
      [JSON.stringify(['hi']), /has no message/],
      ['null', /has no message/],
      [JSON.stringify({ content: 'hi', tool_calls: [{ id: 1 }] }), /^HTTP agent reply is not a valid message: /],
    ];
    for (const [body, expected] of cases) {
      fake.reset((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
      const err = await rejection(oneStep(new HttpAgent(fake.url), turn([user('hi')])));
      expect(err, body).toBeInstanceOf(AgentError);
      expect(err.message, body).toMatch(expected);
    }
  });

  it('stops reading a reply larger than 4 MiB and turns it into an AgentError', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    fake.reset((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"content":"');
      // 8 MiB in all, unless the client stops reading first.
      let sent = 0;
      const pump = () => {
        while (sent < 128 && res.write(chunk)) sent++;
        if (sent < 128) res.once('drain', pump);
        else res.end('"}');
      };
      pump();
    });
    const err = await rejection(oneStep(new HttpAgent(fake.url), turn([user('hi')])));
    expect(err).toBeInstanceOf(AgentError);
    expect(err.message).toBe('HTTP agent reply is larger than 4 MiB');
  });

  it('turns a connection failure into an AgentError naming the URL', async () => {
    const gone = await FakeServer.start();
    const url = gone.url;
    await gone.close();
    const err = await rejection(oneStep(new HttpAgent(url), turn([user('hi')])));
    expect(err).toBeInstanceOf(AgentError);
    expect(err.message).toContain(`HTTP agent at ${url} could not be reached`);
  });

  it('aborts the request on signal and rejects with the signal reason', async () => {
    fake.reset(hang);
    const controller = new AbortController();
    const arrived = once(fake.events, 'request');
    const dropped = once(fake.events, 'aborted');
    const running = oneStep(new HttpAgent(fake.url), turn([user('hi')], controller.signal));
    await arrived;
    controller.abort('timeout');
    expect(await rejection(running)).toBe('timeout');
    await dropped; // the agent closed the connection instead of leaving it open
  });
});

function completion(message: Record<string, unknown>): unknown {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'test-model',
    choices: [{ index: 0, message: { role: 'assistant', refusal: null, ...message }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  };
}

describe('OpenAIAgent', () => {
  let fake: FakeServer;
  let agent: OpenAIAgent;
  beforeAll(async () => {
    fake = await FakeServer.start();
    agent = new OpenAIAgent({ baseURL: `${fake.url}/v1`, apiKey: 'sk-test', model: 'test-model' });
  });
  afterAll(() => fake?.close());
  beforeEach(() => fake.reset((_req, res) => json(res, 200, completion({ content: 'default' }))));

  it('POSTs /v1/chat/completions with the model, the key and the mapped history', async () => {
    const history: ChatMessage[] = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'look it up', name: 'ada' },
      { role: 'assistant', content: null, tool_calls: [CALL] },
      { role: 'tool', content: 'found', tool_call_id: 'call_1' },
      { role: 'user', content: 'and this?', base64_image: 'aGVsbG8=' },
    ];
    fake.reset((_req, res) => json(res, 200, completion({ content: 'all done' })));
    expect(await oneStep(agent, turn(history))).toStrictEqual({ role: 'assistant', content: 'all done' });
    expect(fake.received).toHaveLength(1);
    const [req] = fake.received;
    expect(req).toMatchObject({ method: 'POST', url: '/v1/chat/completions' });
    expect(req?.headers.authorization).toBe('Bearer sk-test');
    expect(req?.body.model).toBe('test-model');
    expect(req?.body.messages).toStrictEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'look it up', name: 'ada' },
      { role: 'assistant', content: null, tool_calls: [CALL] },
      { role: 'tool', content: 'found', tool_call_id: 'call_1' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'and this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,aGVsbG8=' } },
        ],
      },
    ]);
  });

  it('maps function tool_calls of the reply back and drops other kinds', async () => {
    const custom = { id: 'call_2', type: 'custom', custom: { name: 'grammar', input: 'x' } };
    fake.reset((_req, res) => json(res, 200, completion({ content: null, tool_calls: [CALL, custom] })));
    expect(await oneStep(agent, turn([user('use a tool')]))).toStrictEqual({ role: 'assistant', content: null, tool_calls: [CALL] });
  });

  it('turns a completion without choices into an AgentError', async () => {
    fake.reset((_req, res) => json(res, 200, { ...(completion({}) as object), choices: [] }));
    const err = await rejection(oneStep(agent, turn([user('hi')])));
    expect(err).toBeInstanceOf(AgentError);
    expect(err.message).toBe('OpenAI-compatible endpoint returned no choices');
  });

  it('turns an HTTP 500 into an AgentError mentioning the status, without retrying', async () => {
    fake.reset((_req, res) => json(res, 500, { error: { message: 'model exploded', type: 'server_error' } }));
    const err = await rejection(oneStep(agent, turn([user('hi')])));
    expect(err).toBeInstanceOf(AgentError);
    expect(err.message).toMatch(/^OpenAI-compatible endpoint failed \(HTTP 500\): /);
    expect(err.message).toContain('model exploded');
    expect(fake.received).toHaveLength(1);
  });

  it('aborts the request on signal and rejects with the signal reason', async () => {
    fake.reset(hang);
    const controller = new AbortController();
    const arrived = once(fake.events, 'request');
    const dropped = once(fake.events, 'aborted');
    const running = oneStep(agent, turn([user('hi')], controller.signal));
    await arrived;
    const reason = new Error('cancelled by test');
    controller.abort(reason);
    expect(await rejection(running)).toBe(reason);
    await dropped;
  });
});

describe('EchoAgent streaming', () => {
  it('with a delay and onDelta, streams its reply word by word over the delay', async () => {
    const pieces: { text: string; at: number }[] = [];
    const started = performance.now();
    const reply = await new EchoAgent(120).run({
      ...turn([user('one  two')]),
      onDelta: (text) => pieces.push({ text, at: performance.now() - started }),
    });
    expect(reply).toStrictEqual({ role: 'assistant', content: 'echo: one  two' });
    expect(pieces.map((p) => p.text)).toEqual(['echo:', ' one', '  two']);
    // Spread over the delay: the first word after a third of it, the last at its end.
    expect(pieces[0]!.at).toBeGreaterThanOrEqual(35);
    expect(pieces[2]!.at).toBeGreaterThanOrEqual(115);
  });

  it('without a delay there is nothing to stream: onDelta is not called', async () => {
    const pieces: string[] = [];
    const reply = await new EchoAgent(0).run({ ...turn([user('hi')]), onDelta: (text) => pieces.push(text) });
    expect(reply.content).toBe('echo: hi');
    expect(pieces).toEqual([]);
  });
});

/** One streamed Chat Completions chunk, as an SSE `data:` line. */
function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  const body = {
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'test-model',
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  };
  return `data: ${JSON.stringify(body)}\n\n`;
}

function sse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

describe('OpenAIAgent streaming (onDelta)', () => {
  let fake: FakeServer;
  let agent: OpenAIAgent;
  beforeAll(async () => {
    fake = await FakeServer.start();
    agent = new OpenAIAgent({ baseURL: `${fake.url}/v1`, apiKey: 'sk-test', model: 'test-model' });
  });
  afterAll(() => fake?.close());

  it('asks for stream: true, passes each content delta on in order and answers the whole message', async () => {
    const released = new EventEmitter();
    fake.reset((_req, res) => {
      sse(res);
      res.write(chunk({ role: 'assistant', content: '' }));
      res.write(chunk({ content: 'Hel' }));
      // The rest only once the first delta reached onDelta: the deltas really stream.
      released.once('go', () => {
        res.write(chunk({ content: 'lo, ' }));
        res.write(chunk({ content: 'world' }));
        res.write(chunk({}, 'stop'));
        res.end('data: [DONE]\n\n');
      });
    });
    const deltas: string[] = [];
    const reply = await oneStep(agent, {
      ...turn([user('hi')]),
      onDelta: (text) => {
        deltas.push(text);
        if (deltas.length === 1) released.emit('go');
      },
    });
    expect(deltas).toEqual(['Hel', 'lo, ', 'world']);
    expect(reply).toStrictEqual({ role: 'assistant', content: 'Hello, world' });
    expect(fake.received[0]?.body).toMatchObject({ model: 'test-model', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  });

  it('puts together tool calls split over chunks, in index order', async () => {
    fake.reset((_req, res) => {
      sse(res);
      res.write(chunk({ role: 'assistant', content: null, tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'second', arguments: '' } }] }));
      res.write(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q"' } }] }));
      res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: ':"x"}' } }, { index: 1, function: { arguments: '{}' } }] }));
      res.write(chunk({}, 'tool_calls'));
      res.end('data: [DONE]\n\n');
    });
    const deltas: string[] = [];
    const reply = await oneStep(agent, { ...turn([user('use tools')]), onDelta: (text) => deltas.push(text) });
    expect(deltas).toEqual([]);
    expect(reply).toStrictEqual({
      role: 'assistant',
      content: null,
      tool_calls: [CALL, { id: 'call_b', type: 'function', function: { name: 'second', arguments: '{}' } }],
    });
  });

  it('turns an HTTP error, or a stream without choices, into an AgentError', async () => {
    fake.reset((_req, res) => json(res, 429, { error: { message: 'slow down', type: 'rate_limit' } }));
    const limited = await rejection(oneStep(agent, { ...turn([user('hi')]), onDelta: () => {} }));
    expect(limited).toBeInstanceOf(AgentError);
    expect(limited.message).toMatch(/^OpenAI-compatible endpoint failed \(HTTP 429\): /);

    fake.reset((_req, res) => {
      sse(res);
      res.end('data: [DONE]\n\n');
    });
    const empty = await rejection(oneStep(agent, { ...turn([user('hi')]), onDelta: () => {} }));
    expect(empty).toBeInstanceOf(AgentError);
    expect(empty.message).toBe('OpenAI-compatible endpoint returned no choices');
  });

  it('takes a whole JSON completion from a server that ignores stream: true', async () => {
    fake.reset((_req, res) => json(res, 200, completion({ content: 'not streamed', tool_calls: [CALL] })));
    const deltas: string[] = [];
    const reply = await oneStep(agent, { ...turn([user('hi')]), onDelta: (text) => deltas.push(text) });
    expect(reply).toStrictEqual({ role: 'assistant', content: 'not streamed', tool_calls: [CALL] });
    expect(deltas).toEqual([]);
    expect(fake.received[0]?.body.stream).toBe(true);
  });

  it('aborts mid-stream on signal and rejects with the signal reason', async () => {
    fake.reset((_req, res) => {
      sse(res);
      res.write(chunk({ role: 'assistant', content: 'partial' }));
      // ...and never more.
    });
    const controller = new AbortController();
    const dropped = once(fake.events, 'aborted');
    const reason = new Error('cancelled by test');
    const running = oneStep(agent, { ...turn([user('hi')], controller.signal), onDelta: () => controller.abort(reason) });
    expect(await rejection(running)).toBe(reason);
    await dropped;
  });
});
