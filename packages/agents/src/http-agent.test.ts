import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '@baton/core';
import { AgentError, type Interrupt, type StepInput, type StepResult } from './agent.ts';
import { HttpAgent } from './http-agent.ts';

/**
 * A user's agent behind a real HTTP server: `answer(body)` decides each reply (a JSON value,
 * or a raw string body); every request body is recorded.
 */
class UserAgentServer {
  readonly bodies: any[] = [];
  answer: (body: any) => unknown = () => ({ content: 'default' });

  private constructor(private readonly server: Server) {}

  static async start(): Promise<UserAgentServer> {
    const fake: UserAgentServer = new UserAgentServer(
      createServer((req, res) => {
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (text += chunk));
        req.on('end', () => {
          const body = JSON.parse(text);
          fake.bodies.push(body);
          const reply = fake.answer(body);
          res.writeHead(200, { 'content-type': 'application/json' }).end(typeof reply === 'string' ? reply : JSON.stringify(reply));
        });
      }),
    );
    fake.server.listen(0, '127.0.0.1');
    await once(fake.server, 'listening');
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/agent`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

const user = (content: string, user_params?: Record<string, unknown>): ChatMessage => ({ role: 'user', content, ...(user_params ? { user_params } : {}) });

/** The worker's loop in small: step until done, recording messages; interrupts answered by `answer`. */
async function runTurn(agent: HttpAgent, history: ChatMessage[], base: Partial<StepInput> = {}, answer?: (i: Interrupt) => unknown) {
  const recorded: ChatMessage[] = [];
  const steps: StepResult[] = [];
  let resume: StepInput['resume'];
  for (let stepIndex = 0; stepIndex < 10; stepIndex++) {
    const result = await agent.step({
      sessionId: 'sess-1',
      turnId: 'turn-1',
      signal: new AbortController().signal,
      config: {},
      ...base,
      messages: [...history, ...recorded],
      stepIndex,
      turnStart: history.length,
      ...(resume ? { resume } : {}),
    });
    resume = undefined;
    steps.push(result);
    recorded.push(...result.messages);
    if (result.interrupt) {
      if (!answer) break;
      const interrupt = { ...result.interrupt, interrupt_id: `int-${stepIndex}` };
      resume = { interrupt, value: answer(interrupt) };
      continue;
    }
    if (result.done) break;
  }
  return { recorded, steps };
}

let server: UserAgentServer;
beforeAll(async () => {
  server = await UserAgentServer.start();
});
afterAll(() => server?.close());
beforeEach(() => {
  server.bodies.length = 0;
});

const CALL = { id: 'call_w', type: 'function' as const, function: { name: 'weather', arguments: '{"city":"Oslo"}' } };

describe('HttpAgent v2 protocol', () => {
  it('calls again until done, sending the history with the recorded messages, config and user_params each time', async () => {
    server.answer = (body) =>
      body.step_index === 0
        ? { messages: [{ role: 'assistant', content: null, tool_calls: [CALL] }, { role: 'tool', content: '-3 °C', tool_call_id: 'call_w' }], done: false }
        : { messages: [{ role: 'assistant', content: 'Cold: -3 °C.', reasoning: 'Read the tool.' }], done: true };
    const history = [user('weather in Oslo?', { units: 'metric' })];
    const { recorded, steps } = await runTurn(new HttpAgent(server.url), history, { config: { tone: 'dry' }, userParams: { units: 'metric' } });

    expect(steps.map((s) => s.done)).toEqual([false, true]);
    expect(recorded).toStrictEqual([
      { role: 'assistant', content: null, tool_calls: [CALL] },
      { role: 'tool', content: '-3 °C', tool_call_id: 'call_w' },
      { role: 'assistant', content: 'Cold: -3 °C.', reasoning: 'Read the tool.' },
    ]);
    expect(server.bodies).toHaveLength(2);
    expect(server.bodies[0]).toStrictEqual({
      version: 2,
      session_id: 'sess-1',
      turn_id: 'turn-1',
      step_index: 0,
      messages: history,
      config: { tone: 'dry' },
      user_params: { units: 'metric' },
    });
    expect(server.bodies[1].step_index).toBe(1);
    expect(server.bodies[1].messages).toStrictEqual([...history, ...recorded.slice(0, 2)]);
  });

  it('an interrupt stops the turn; the next call carries resume {interrupt, value}', async () => {
    server.answer = (body) => {
      if (!body.resume) return { messages: [{ role: 'assistant', content: 'I need to ask.' }], interrupt: { type: 'user_input', payload: { question: 'Which city?' } }, done: false };
      return { messages: [{ role: 'assistant', content: `Weather for ${body.resume.value}.` }], done: true };
    };
    const { recorded, steps } = await runTurn(new HttpAgent(server.url), [user('weather?')], {}, () => 'Bergen');
    expect(steps[0]).toStrictEqual({
      messages: [{ role: 'assistant', content: 'I need to ask.' }],
      interrupt: { type: 'user_input', payload: { question: 'Which city?' } },
      done: false,
    });
    expect(server.bodies[0]).not.toHaveProperty('resume');
    expect(server.bodies[1].resume).toStrictEqual({
      interrupt: { type: 'user_input', payload: { question: 'Which city?' }, interrupt_id: 'int-0' },
      value: 'Bergen',
    });
    expect(recorded.at(-1)).toStrictEqual({ role: 'assistant', content: 'Weather for Bergen.' });
    // An interrupt with no messages is a step too (a tool approval asked before anything ran).
    server.answer = () => ({ messages: [], interrupt: { type: 'tool_approval', payload: { tool_call_id: 'x' } }, done: false });
    const [only] = (await runTurn(new HttpAgent(server.url), [user('rm')])).steps;
    expect(only).toStrictEqual({ messages: [], interrupt: { type: 'tool_approval', payload: { tool_call_id: 'x' } }, done: false });
  });

  it('v1 replies ({content} or {message}) are one final step, as before', async () => {
    for (const reply of [{ content: 'v1 bare' }, { message: { content: 'v1 wrapped', reasoning: 'kept' } }]) {
      server.answer = () => reply;
      const { recorded, steps } = await runTurn(new HttpAgent(server.url), [user('hi')]);
      expect(steps).toHaveLength(1);
      expect(steps[0]?.done).toBe(true);
      expect(recorded).toStrictEqual([{ role: 'assistant', ...('content' in reply ? reply : reply.message) }]);
    }
  });

  it('refuses v2 replies that are not exactly right, each with an AgentError saying what is wrong', async () => {
    const cases: [unknown, string][] = [
      [{ messages: [], done: 'yes' }, 'done: must be true or false'],
      [{ messages: [{ role: 'assistant', content: 'x' }] }, 'done: must be true or false'],
      [{ messages: 'hi', done: true }, 'messages: '],
      [{ messages: [{ role: 'user', content: 'x' }], done: true }, 'messages.0.role: must be "assistant" or "tool"'],
      [{ messages: [{ role: 'tool', content: 'x' }], done: false }, 'messages.0.tool_call_id: a tool message needs its tool_call_id'],
      [{ messages: [{ role: 'assistant', content: 'x', secret: 1 }], done: true }, 'messages.0: Unrecognized key: "secret"'],
      [{ messages: [{ role: 'assistant', content: 'x' }], done: true, extra: 1 }, '(reply): Unrecognized key: "extra"'],
      [{ messages: [], interrupt: { type: 'coffee', payload: {} }, done: false }, 'interrupt.type: '],
      [{ messages: [{ role: 'assistant', content: 'x' }], interrupt: { type: 'user_input' }, done: true }, 'an interrupt needs done: false'],
      [{ messages: [], done: true }, 'done: true needs messages ending with the assistant reply'],
      [{ messages: [], done: false }, 'done: false needs messages or an interrupt'],
      [{ messages: Array.from({ length: 129 }, () => ({ role: 'assistant', content: 'x' })), done: true }, 'messages: '],
    ];
    for (const [reply, expected] of cases) {
      server.answer = () => reply;
      const err = await runTurn(new HttpAgent(server.url), [user('hi')]).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err, JSON.stringify(reply)).toBeInstanceOf(AgentError);
      expect(err?.message, JSON.stringify(reply)).toContain(`HTTP agent reply is not a valid v2 step: ${expected}`);
    }
  });
});
