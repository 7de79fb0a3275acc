import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ChatMessage } from '@baton/core';
import { FakeOpenAI } from '@baton/devtools';
import { AgentError, type Interrupt, type StepAgent, type StepResult, maxStepsOf } from './agent.ts';
import { ToolAgent, defineAgent } from './define-agent.ts';
import { askUser, tool, type ToolContext } from './tool.ts';

/**
 * A tiny stand-in for the worker's step loop: calls `step` until `done`, recording each
 * step's messages into the history the next step sees; an interrupt is answered by
 * `answer` (its value becomes the next step's `resume`), or ends the run when there is none.
 */
async function runTurn(
  agent: StepAgent,
  history: ChatMessage[],
  options: {
    config?: Record<string, unknown>;
    userParams?: Record<string, unknown>;
    answer?: (interrupt: Interrupt) => unknown;
    onDelta?: (text: string) => void;
    signal?: AbortSignal;
  } = {},
): Promise<{ recorded: ChatMessage[]; steps: StepResult[]; interrupts: Interrupt[]; done: boolean }> {
  const recorded: ChatMessage[] = [];
  const steps: StepResult[] = [];
  const interrupts: Interrupt[] = [];
  let resume: { interrupt: Interrupt; value: unknown } | undefined;
  for (let stepIndex = 0; stepIndex < 30; stepIndex++) {
    const result = await agent.step({
      sessionId: 'sess-1',
      turnId: 'turn-1',
      messages: [...history, ...recorded],
      signal: options.signal ?? new AbortController().signal,
      config: options.config ?? {},
      stepIndex,
      turnStart: history.length,
      ...(options.userParams ? { userParams: options.userParams } : {}),
      ...(options.onDelta ? { onDelta: options.onDelta } : {}),
      ...(resume ? { resume } : {}),
    });
    resume = undefined;
    steps.push(result);
    recorded.push(...result.messages);
    if (result.interrupt) {
      const interrupt = { ...result.interrupt, interrupt_id: `int-${stepIndex}` };
      interrupts.push(interrupt);
      if (!options.answer) return { recorded, steps, interrupts, done: false };
      resume = { interrupt, value: options.answer(interrupt) };
      continue;
    }
    if (result.done) return { recorded, steps, interrupts, done: true };
  }
  throw new Error('the turn took more than 30 steps');
}

const user = (content: string): ChatMessage => ({ role: 'user', content });
const call = (id: string, name: string, args: unknown) => ({ id, type: 'function' as const, function: { name, arguments: JSON.stringify(args) } });
const toolMessage = (id: string, name: string, content: string): ChatMessage => ({ role: 'tool', content, tool_call_id: id, name });

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await FakeOpenAI.start();
});
afterAll(() => fake?.close());
beforeEach(() => fake.reset());

/** Counts each call of each tool, with the context it got. */
function toolbox() {
  const runs: { name: string; args: unknown; ctx: ToolContext }[] = [];
  const add = tool({
    name: 'add',
    description: 'Adds two numbers',
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }, ctx) => {
      runs.push({ name: 'add', args: { a, b }, ctx });
      return a + b;
    },
  });
  const files: Record<string, string> = { 'notes.txt': 'hello', 'keep.txt': 'precious' };
  const remove = tool({
    name: 'delete_file',
    description: 'Deletes a file',
    parameters: z.object({ path: z.string() }),
    needsApproval: true,
    execute: ({ path }, ctx) => {
      runs.push({ name: 'delete_file', args: { path }, ctx });
      delete files[path];
      return { deleted: path };
    },
  });
  return { runs, files, add, remove };
}

function agentWith(tools: ReturnType<typeof toolbox>, extra: Partial<Parameters<typeof defineAgent>[0]> = {}): ToolAgent {
  return defineAgent({ name: 'helper', system: 'You help.', model: { temperature: 0.3 }, tools: [tools.add, tools.remove], ...extra }).connect({
    baseURL: fake.baseURL,
    apiKey: 'sk-test',
    model: 'server-model',
  });
}

describe('defineAgent: the tool loop against an OpenAI-compatible server', () => {
  it('runs a tool call the model asks for, records its result, and calls the model again until it answers', async () => {
    const tools = toolbox();
    fake.script({ content: 'Let me add.', tool_calls: [{ id: 'call_a', name: 'add', arguments: '{"a":2,"b":3}' }] }, { content: 'It is 5.' });
    const deltas: string[] = [];
    const turn = await runTurn(agentWith(tools), [user('2+3?')], { onDelta: (t) => deltas.push(t), userParams: { who: 'ada' } });

    expect(turn.done).toBe(true);
    expect(turn.recorded).toStrictEqual([
      { role: 'assistant', content: 'Let me add.', tool_calls: [call('call_a', 'add', { a: 2, b: 3 })] },
      toolMessage('call_a', 'add', '5'),
      { role: 'assistant', content: 'It is 5.' },
    ]);
    expect(turn.steps.map((s) => [s.messages.length, s.done])).toEqual([[1, false], [1, false], [1, true]]);
    expect(deltas.join('')).toBe('Let me add.It is 5.');
    expect(tools.runs).toHaveLength(1);
    expect(tools.runs[0]?.ctx).toMatchObject({ sessionId: 'sess-1', turnId: 'turn-1', toolCallId: 'call_a', userParams: { who: 'ada' } });

    const [first, second] = fake.requests;
    expect(first?.body).toMatchObject({ model: 'server-model', temperature: 0.3, stream: true, parallel_tool_calls: true });
    expect(first?.body.messages).toStrictEqual([{ role: 'system', content: 'You help.' }, { role: 'user', content: '2+3?' }]);
    expect(first?.body.tools).toStrictEqual([
      {
        type: 'function',
        function: {
          name: 'add',
          description: 'Adds two numbers',
          parameters: {
            type: 'object',
            properties: { a: { type: 'number' }, b: { type: 'number' } },
            required: ['a', 'b'],
          },
        },
      },
      expect.objectContaining({ function: expect.objectContaining({ name: 'delete_file' }) }),
    ]);
    expect(second?.body.messages.slice(2)).toStrictEqual([
      { role: 'assistant', content: 'Let me add.', tool_calls: [call('call_a', 'add', { a: 2, b: 3 })] },
      { role: 'tool', content: '5', tool_call_id: 'call_a' },
    ]);
  });

  it('runs parallel tool calls one per step, in the order the model gave them, then calls the model once', async () => {
    const tools = toolbox();
    fake.script(
      {
        content: null,
        tool_calls: [
          { id: 'call_1', name: 'add', arguments: '{"a":1,"b":1}' },
          { id: 'call_2', name: 'add', arguments: '{"a":2,"b":2}' },
          { id: 'call_3', name: 'add', arguments: '{"a":3,"b":3}' },
        ],
      },
      { content: '2, 4 and 6.' },
    );
    const turn = await runTurn(agentWith(tools), [user('three sums')]);
    expect(turn.recorded.map((m) => [m.role, m.tool_call_id ?? null, m.content])).toEqual([
      ['assistant', null, null],
      ['tool', 'call_1', '2'],
      ['tool', 'call_2', '4'],
      ['tool', 'call_3', '6'],
      ['assistant', null, '2, 4 and 6.'],
    ]);
    expect(turn.steps).toHaveLength(5);
    expect(tools.runs.map((r) => r.ctx.toolCallId)).toEqual(['call_1', 'call_2', 'call_3']);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]?.body.messages.filter((m: ChatMessage) => m.role === 'tool')).toHaveLength(3);
  });

  it('answers bad arguments and unknown tools with an error tool message, and the loop goes on', async () => {
    const tools = toolbox();
    fake.script(
      {
        content: null,
        tool_calls: [
          { id: 'c1', name: 'add', arguments: '{"a":1,' },
          { id: 'c2', name: 'add', arguments: '{"a":"one","b":2}' },
          { id: 'c3', name: 'launch_rocket', arguments: '{}' },
        ],
      },
      { content: 'Sorry.' },
    );
    const turn = await runTurn(agentWith(tools), [user('go')]);
    const results = turn.recorded.filter((m) => m.role === 'tool').map((m) => m.content);
    expect(results[0]).toMatch(/^Error: the arguments are not valid JSON: /);
    expect(results[1]).toMatch(/^Error: invalid arguments: a: .*number/);
    expect(results[2]).toBe('Error: there is no tool "launch_rocket" (tools: add, delete_file)');
    expect(tools.runs).toEqual([]);
    expect(turn.recorded.at(-1)).toStrictEqual({ role: 'assistant', content: 'Sorry.' });
  });

  it('stops at a call that needs approval with a tool_approval interrupt and no messages; approved, it runs', async () => {
    const tools = toolbox();
    fake.script({ content: null, tool_calls: [{ id: 'call_rm', name: 'delete_file', arguments: '{"path":"notes.txt"}' }] }, { content: 'Deleted.' });
    const stopped = await runTurn(agentWith(tools), [user('delete notes.txt')]);
    expect(stopped.done).toBe(false);
    expect(stopped.steps[1]).toStrictEqual({
      messages: [],
      interrupt: { type: 'tool_approval', payload: { tool_call_id: 'call_rm', name: 'delete_file', arguments: { path: 'notes.txt' } } },
      done: false,
    });
    expect(tools.runs).toEqual([]);
    expect(tools.files).toHaveProperty('notes.txt');

    fake.reset();
    fake.script({ content: null, tool_calls: [{ id: 'call_rm', name: 'delete_file', arguments: '{"path":"notes.txt"}' }] }, { content: 'Deleted.' });
    const approved = await runTurn(agentWith(tools), [user('delete notes.txt')], { answer: () => ({ approved: true }) });
    expect(approved.done).toBe(true);
    expect(approved.interrupts.map((i) => i.type)).toEqual(['tool_approval']);
    expect(approved.recorded[1]).toStrictEqual(toolMessage('call_rm', 'delete_file', '{"deleted":"notes.txt"}'));
    expect(tools.runs.map((r) => r.name)).toEqual(['delete_file']);
    expect(tools.files).not.toHaveProperty('notes.txt');
  });

  it('records a refusal (with its reason) as the call result without running it, and the loop goes on', async () => {
    const tools = toolbox();
    fake.script({ content: null, tool_calls: [{ id: 'call_rm', name: 'delete_file', arguments: '{"path":"keep.txt"}' }] }, { content: 'Kept it.' });
    const turn = await runTurn(agentWith(tools), [user('delete keep.txt')], { answer: () => ({ approved: false, reason: 'I still need it' }) });
    expect(turn.done).toBe(true);
    expect(turn.recorded[1]).toStrictEqual(toolMessage('call_rm', 'delete_file', 'Refused: the user did not approve this call: I still need it'));
    expect(tools.runs).toEqual([]);
    expect(tools.files['keep.txt']).toBe('precious');
    // Anything but an explicit {approved: true} is a refusal.
    fake.script({ content: null, tool_calls: [{ id: 'call_x', name: 'delete_file', arguments: '{"path":"keep.txt"}' }] }, { content: 'Kept.' });
    const vague = await runTurn(agentWith(tools), [user('delete keep.txt')], { answer: () => ({ approved: 'yes' }) });
    expect(vague.recorded[1]?.content).toBe('Refused: the user did not approve this call');
    expect(tools.runs).toEqual([]);
  });

  it('asks for approval only when needsApproval(args) says so', async () => {
    const runs: string[] = [];
    const write = tool({
      name: 'write',
      description: 'Writes a file',
      parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
      needsApproval: (args) => String(args.path).startsWith('/etc/'),
      execute: (args) => void runs.push(String(args.path)),
    });
    fake.script(
      { content: null, tool_calls: [{ id: 'w1', name: 'write', arguments: '{"path":"/tmp/a"}' }, { id: 'w2', name: 'write', arguments: '{"path":"/etc/b"}' }] },
      { content: 'ok' },
    );
    const agent = defineAgent({ name: 'writer', tools: [write] }).connect({ baseURL: fake.baseURL, apiKey: 'k', model: 'm' });
    const turn = await runTurn(agent, [user('write')], { answer: () => ({ approved: true }) });
    expect(turn.interrupts.map((i) => (i.payload as { tool_call_id: string }).tool_call_id)).toEqual(['w2']);
    expect(runs).toEqual(['/tmp/a', '/etc/b']);
    // The session's config.confirm_tool_calls: every call waits for approval.
    fake.script({ content: null, tool_calls: [{ id: 'w9', name: 'write', arguments: '{"path":"/tmp/c"}' }] }, { content: 'ok' });
    const confirmed = await runTurn(agent, [user('write')], { config: { confirm_tool_calls: true }, answer: () => ({ approved: true }) });
    expect(confirmed.interrupts.map((i) => i.payload)).toEqual([{ tool_call_id: 'w9', name: 'write', arguments: { path: '/tmp/c' } }]);
    // A JSON Schema's parameters are checked too, and sent to the model as given.
    expect(fake.requests[0]?.body.tools[0].function.parameters).toStrictEqual({ type: 'object', properties: { path: { type: 'string' } }, required: ['path'] });
    fake.script({ content: null, tool_calls: [{ id: 'w3', name: 'write', arguments: '{"path":7}' }] }, { content: 'ok' });
    const bad = await runTurn(agent, [user('write')]);
    expect(bad.recorded[1]?.content).toMatch(/^Error: invalid arguments: path: /);
  });

  it('askUser in execute stops the turn with a user_input interrupt; the answer becomes the call result', async () => {
    let runs = 0;
    const pick = tool({
      name: 'pick_color',
      description: 'Asks the user for a color',
      parameters: z.object({}),
      execute: () => {
        runs++;
        return askUser({ question: 'Which color?', choices: ['red', 'blue'] });
      },
    });
    fake.script({ content: null, tool_calls: [{ id: 'ask_1', name: 'pick_color', arguments: '' }] }, { content: 'Blue it is.' });
    const agent = defineAgent({ name: 'asker', tools: [pick] }).connect({ baseURL: fake.baseURL, apiKey: 'k', model: 'm' });
    const turn = await runTurn(agent, [user('paint')], { answer: () => 'blue' });
    expect(turn.interrupts).toStrictEqual([
      { type: 'user_input', payload: { question: 'Which color?', choices: ['red', 'blue'], tool_call_id: 'ask_1', name: 'pick_color' }, interrupt_id: 'int-1' },
    ]);
    expect(turn.steps[1]?.messages).toEqual([]);
    expect(turn.recorded[1]).toStrictEqual(toolMessage('ask_1', 'pick_color', 'blue'));
    expect(runs).toBe(1);
    expect(turn.recorded.at(-1)?.content).toBe('Blue it is.');
  });

  it('a step rerun after a crash runs the pending call again with the same tool_call_id; a recorded result is never run again', async () => {
    const tools = toolbox();
    const agent = agentWith(tools);
    const history: ChatMessage[] = [user('1+1'), { role: 'assistant', content: null, tool_calls: [call('call_same', 'add', { a: 1, b: 1 })] }];
    const input = { sessionId: 's', turnId: 't', signal: new AbortController().signal, config: {}, stepIndex: 1, turnStart: 1 };
    await agent.step({ ...input, messages: history }); // its result lost with the worker
    const rerun = await agent.step({ ...input, messages: history });
    expect(tools.runs.map((r) => r.ctx.toolCallId)).toEqual(['call_same', 'call_same']);
    fake.script({ content: 'Two.' });
    const next = await agent.step({ ...input, messages: [...history, ...rerun.messages], stepIndex: 2 });
    expect(next).toStrictEqual({ messages: [{ role: 'assistant', content: 'Two.' }], done: true });
    expect(tools.runs).toHaveLength(2);
  });

  it('a thrown error becomes the call result; an AgentError ends the turn', async () => {
    const flaky = tool({ name: 'flaky', description: '', parameters: z.object({}), execute: () => { throw new Error('disk full'); } });
    const fatal = tool({ name: 'fatal', description: '', parameters: z.object({}), execute: () => { throw new AgentError('the account is locked'); } });
    const agent = defineAgent({ name: 'risky', tools: [flaky, fatal] }).connect({ baseURL: fake.baseURL, apiKey: 'k', model: 'm' });
    fake.script({ content: null, tool_calls: [{ id: 'f1', name: 'flaky', arguments: '{}' }] }, { content: null, tool_calls: [{ id: 'f2', name: 'fatal', arguments: '{}' }] });
    await expect(runTurn(agent, [user('try')])).rejects.toThrow(new AgentError('the account is locked'));
    expect(fake.requests[1]?.body.messages.at(-1)).toStrictEqual({ role: 'tool', content: 'Error: disk full', tool_call_id: 'f1' });
  });

  it('aborts a running tool on signal: the step rejects with the reason and records nothing', async () => {
    const controller = new AbortController();
    const slow = tool({
      name: 'slow',
      description: '',
      parameters: z.object({}),
      execute: (_args, ctx) => new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => reject(new Error('stopped')));
        controller.abort('cancelled');
      }),
    });
    const agent = defineAgent({ name: 'slowpoke', tools: [slow] }).connect({ baseURL: fake.baseURL, apiKey: 'k', model: 'm' });
    const history: ChatMessage[] = [user('wait'), { role: 'assistant', content: null, tool_calls: [call('s1', 'slow', {})] }];
    await expect(agent.step({ sessionId: 's', turnId: 't', messages: history, signal: controller.signal, config: {}, stepIndex: 1, turnStart: 1 })).rejects.toBe('cancelled');
  });

  it("takes the session's config over the agent's settings, and gives a stable id to a call that came without one", async () => {
    const tools = toolbox();
    fake.script({ content: null, tool_calls: [{ name: 'add', arguments: '{"a":1,"b":2}' }] }, { content: '3' });
    const turn = await runTurn(agentWith(tools), [user('1+2')], { config: { model: 'session-model', system: 'Be terse.', temperature: 0, max_tokens: 50 } });
    expect(fake.requests[0]?.body).toMatchObject({ model: 'session-model', temperature: 0, max_tokens: 50 });
    expect(fake.requests[0]?.body.messages[0]).toStrictEqual({ role: 'system', content: 'Be terse.' });
    const id = turn.recorded[0]?.tool_calls?.[0]?.id;
    expect(id).toMatch(/^call_[0-9a-f-]{36}$/);
    expect(turn.recorded[1]?.tool_call_id).toBe(id);
    expect(tools.runs[0]?.ctx.config).toMatchObject({ model: 'session-model' });
  });

  it('keeps reasoning and reasoning_details of the reply, and sends reasoning_details back with it', async () => {
    const details = [{ type: 'reasoning.encrypted', data: 'abc==', id: 'r1' }];
    fake.script({ content: null, reasoning: 'Adding is easy.', reasoning_details: details, tool_calls: [{ id: 'r_1', name: 'add', arguments: '{"a":1,"b":1}' }] }, { content: '2' });
    const turn = await runTurn(agentWith(toolbox()), [user('1+1')]);
    expect(turn.recorded[0]).toMatchObject({ reasoning: 'Adding is easy.', reasoning_details: details });
    expect(fake.requests[1]?.body.messages[2]).toStrictEqual({
      role: 'assistant',
      content: null,
      tool_calls: [call('r_1', 'add', { a: 1, b: 1 })],
      reasoning_details: details,
    });
    // Without streaming (no onDelta) the same fields come from the JSON completion.
    fake.script({ content: 'hi', reasoning: 'Greeting.', reasoning_details: details });
    const whole = await defineAgent({ name: 'plain' }).connect({ baseURL: fake.baseURL, apiKey: 'k', model: 'm' }).step({
      sessionId: 's', turnId: 't', messages: [user('hi')], signal: new AbortController().signal, config: {}, stepIndex: 0, turnStart: 1,
    });
    expect(fake.requests.at(-1)?.body.stream).toBeUndefined();
    expect(whole.messages).toStrictEqual([{ role: 'assistant', content: 'hi', reasoning: 'Greeting.', reasoning_details: details }]);
  });

  it('gives tool calls of an earlier turn that never ran a result, so the endpoint accepts the history', async () => {
    fake.script({ content: 'fresh' });
    const history: ChatMessage[] = [
      user('old'),
      { role: 'assistant', content: null, tool_calls: [call('old_1', 'add', { a: 1, b: 1 }), call('old_2', 'add', { a: 2, b: 2 })] },
      toolMessage('old_1', 'add', '2'),
      user('new'),
    ];
    await runTurn(defineAgent({ name: 'plain' }).connect({ baseURL: fake.baseURL, apiKey: 'k', model: 'm' }), history);
    expect(fake.requests[0]?.body.messages.slice(2, 5)).toStrictEqual([
      { role: 'tool', content: '2', tool_call_id: 'old_1' },
      { role: 'tool', content: 'Error: no result (the turn ended before this call ran)', tool_call_id: 'old_2' },
      { role: 'user', content: 'new' },
    ]);
  });

  it('fails with an AgentError when the model endpoint fails or is not configured', async () => {
    fake.script({ status: 503, error: 'overloaded' });
    await expect(runTurn(agentWith(toolbox()), [user('hi')])).rejects.toThrow(/^OpenAI-compatible endpoint failed \(HTTP 503\): .*overloaded/);
    await expect(runTurn(defineAgent({ name: 'unbound' }), [user('hi')])).rejects.toThrow(/agent unbound has no model endpoint: set OPENAI_API_KEY/);
  });
});

describe('defineAgent: definitions and config', () => {
  it('refuses bad names, duplicate tools, bad maxSteps and a configSchema that is not an object', () => {
    const t = toolbox();
    expect(() => defineAgent({ name: 'has space' })).toThrow(/agent name "has space" must be/);
    expect(() => defineAgent({ name: 'a', tools: [t.add, t.add] })).toThrow('agent a: two tools are named "add"');
    expect(() => defineAgent({ name: 'a', maxSteps: 0 })).toThrow('agent a: maxSteps must be an integer from 1 to 1000');
    expect(() => defineAgent({ name: 'a', configSchema: z.string() as never })).toThrow('agent a: configSchema must be a z.object({...})');
    expect(() => tool({ name: 'no good', description: '', parameters: z.object({}), execute: () => 1 })).toThrow(/tool name "no good"/);
    expect(() => tool({ name: 'arr', description: '', parameters: z.array(z.string()) as never, execute: () => 1 })).toThrow(/parameters must be an object schema/);
  });

  it("checks a session's config: model settings plus the agent's own fields, nothing else", () => {
    const agent = defineAgent({ name: 'shop', configSchema: z.object({ currency: z.enum(['EUR', 'USD']) }) });
    expect(agent.configSchema.parse({ model: 'm', temperature: 1.5, max_steps: 8, currency: 'EUR' })).toEqual({ model: 'm', temperature: 1.5, max_steps: 8, currency: 'EUR' });
    const paths = (config: unknown) => agent.configSchema.safeParse(config).error?.issues.map((i) => `${i.path.join('.')}:${i.code}`);
    expect(paths({ temperature: 3 })).toEqual(['temperature:too_big', 'currency:invalid_value']);
    expect(paths({ currency: 'EUR', max_steps: 0, colour: 'red' })).toEqual(['max_steps:too_small', ':unrecognized_keys']);
  });

  it("maxStepsOf: the session's max_steps, else the agent's maxSteps, else the server's default", () => {
    const agent = defineAgent({ name: 'short', maxSteps: 6 });
    expect(maxStepsOf(agent, { max_steps: 3 }, 20)).toBe(3);
    expect(maxStepsOf(agent, {}, 20)).toBe(6);
    expect(maxStepsOf(defineAgent({ name: 'plain' }), {}, 20)).toBe(20);
  });
});
