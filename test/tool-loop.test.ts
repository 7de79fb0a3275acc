/**
 * A module agent (examples/agents/my-agents.ts) runs its tool loop through the worker's step
 * runner against a fake OpenAI-compatible server: a tool, an approval round trip, the reply;
 * the session's config (precision, max_steps) reaches the agent and the runner.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { FakeOpenAI, waitUntil } from '@baton/devtools';
import { Baton, createSession, http, waitForIdle } from './support/baton.ts';

let baton: Baton;
let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await FakeOpenAI.start();
  baton = await Baton.start({
    redisUrl: inject('redisUrl'),
    env: { AGENTS_MODULE: 'examples/agents/my-agents.ts', OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: 'sk-e2e' },
  });
});
afterAll(async () => {
  await baton?.stop();
  await fake?.close();
});

it('a module agent runs the tool loop through the worker: a tool, an approval round trip, the reply', async () => {
  fake.script(
    { content: 'Computing.', tool_calls: [{ id: 'c1', name: 'calculator', arguments: '{"op":"divide","a":2,"b":3}' }, { id: 'd1', name: 'delete_file', arguments: '{"path":"old.log"}' }] },
    { content: 'Done: 0.67, and old.log is gone.' },
  );
  const id = await createSession(baton.url, { agent: 'assistant', config: { precision: 2, max_steps: 6 } });
  expect((await http(baton.url, 'POST', `/sessions/${id}/messages`, { content: '2/3 and delete old.log', user_params: { who: 'ada' } })).status).toBe(202);
  const stopped = await waitUntil(async () => {
    const view = await waitForIdle(baton.url, id);
    return view.status === 'interrupted' && view;
  }, { timeoutMs: 30_000, what: 'the approval interrupt' });
  expect(stopped.interrupts).toEqual([{ interrupt_id: expect.any(String), type: 'tool_approval', payload: { tool_call_id: 'd1', name: 'delete_file', arguments: { path: 'old.log' } } }]);
  const resumed = await http(baton.url, 'POST', `/sessions/${id}/resume`, { interrupt_id: stopped.interrupts[0].interrupt_id, value: { approved: true } });
  expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
  const done = await waitUntil(async () => {
    const view = await waitForIdle(baton.url, id);
    return view.status !== 'running' && view.status !== 'interrupted' && view;
  }, { timeoutMs: 30_000, what: 'the reply' });
  expect(done).toMatchObject({ status: 'idle', response: { content: 'Done: 0.67, and old.log is gone.' } });
  const history = (await http(baton.url, 'GET', `/sessions/${id}/messages`)).body;
  expect(history.map((m: any) => [m.role, m.content])).toEqual([
    ['user', '2/3 and delete old.log'],
    ['assistant', 'Computing.'],
    ['tool', '0.67'],
    ['tool', 'deleted old.log'],
    ['assistant', 'Done: 0.67, and old.log is gone.'],
  ]);
  expect(fake.requests).toHaveLength(2);
  expect(baton.workers[0]!.count(/tool executed/)).toBe(2);

  // max_steps from the session's config: a model that keeps calling tools is stopped.
  fake.respond = () => ({ content: null, tool_calls: [{ name: 'list_files', arguments: '{}' }] });
  const loop = await createSession(baton.url, { agent: 'assistant', config: { max_steps: 3 } });
  await http(baton.url, 'POST', `/sessions/${loop}/messages`, { content: 'loop' });
  const failed = await waitUntil(async () => {
    const view = await waitForIdle(baton.url, loop);
    return view.status === 'error' && view;
  }, { timeoutMs: 30_000, what: 'the step limit' });
  expect(failed.error).toMatch(/3 steps/);
});

/**
 * The http agent's v2 protocol through the worker: a user's agent (a real local HTTP server)
 * answers one step at a time; Baton records each step's messages, stops at its interrupt,
 * and calls again with the person's answer until the agent says `done`.
 */
it('the http agent (v2) runs step by step through the worker, with an interrupt and its answer', async () => {
  const calls: any[] = [];
  const agent = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const call = JSON.parse(body);
    calls.push(call);
    const reply =
      call.resume !== undefined
        ? { messages: [{ role: 'assistant', content: `ok, ${JSON.stringify(call.resume.value)}` }], done: true }
        : call.messages.length === 1
          ? { messages: [{ role: 'assistant', content: 'step one' }], done: false }
          : { messages: [], interrupt: { type: 'user_input', payload: { question: 'which?' } }, done: false };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(reply));
  });
  await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(agent.address() as AddressInfo).port}/agent`;
  const own = await Baton.start({ redisUrl: inject('redisUrl'), env: { HTTP_AGENT_URL: url } });
  try {
    const id = await createSession(own.url, { agent: 'http' });
    expect((await http(own.url, 'POST', `/sessions/${id}/messages`, { content: 'go' })).status).toBe(202);
    const stopped = await waitUntil(async () => {
      const view = await waitForIdle(own.url, id);
      return view.status === 'interrupted' && view;
    }, { timeoutMs: 30_000, what: 'the http agent interrupt' });
    expect(stopped.interrupts).toEqual([{ interrupt_id: expect.any(String), type: 'user_input', payload: { question: 'which?' } }]);
    const resumed = await http(own.url, 'POST', `/sessions/${id}/resume`, { interrupt_id: stopped.interrupts[0].interrupt_id, value: 'the blue one' });
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    const done = await waitUntil(async () => {
      const view = await waitForIdle(own.url, id);
      return view.status === 'idle' && view;
    }, { timeoutMs: 30_000, what: 'the reply' });
    expect(done.response).toMatchObject({ role: 'assistant', content: 'ok, "the blue one"' });
    const history = (await http(own.url, 'GET', `/sessions/${id}/messages`)).body;
    expect(history.map((m: any) => [m.role, m.content])).toEqual([
      ['user', 'go'],
      ['assistant', 'step one'],
      ['assistant', 'ok, "the blue one"'],
    ]);
    // Three calls, each v2 with the history so far; the last one carries the interrupt and its answer.
    expect(calls.map((c) => [c.version, c.session_id, c.messages.length])).toEqual([
      [2, id, 1],
      [2, id, 2],
      [2, id, 2],
    ]);
    expect(calls[2].resume).toEqual({ interrupt: stopped.interrupts[0], value: 'the blue one' });
  } finally {
    await own.stop();
    agent.close();
  }
});
