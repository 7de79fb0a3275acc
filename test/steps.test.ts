import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, FAST_RECOVERY, createSession, http, waitForIdle } from './support/baton.ts';
import { SseClient } from './support/sse.ts';

/**
 * A turn as a loop of steps, with the echo agent's test contract (`user_params.echo`): each
 * step's messages recorded in order as it completes, sent as SSE `message` events, counted in
 * `total_messages`; a worker SIGKILLed between steps; the `max_steps` limit; bad contracts.
 */
let baton: Baton;
let base: string;

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: FAST_RECOVERY, workerEnv: { MAX_STEPS: '6' } });
  base = baton.url;
});
afterAll(async () => {
  await baton?.stop();
});

async function send(id: string, body: Record<string, unknown>) {
  const res = await http(base, 'POST', `/sessions/${id}/messages`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as { turn_id: string };
}

const messages = async (id: string) => (await http(base, 'GET', `/sessions/${id}/messages`)).body as any[];

/** The history a `tool_steps: n` echo turn leaves: the message, n × (call, result), the reply. */
function expectToolLoop(history: any[], turnId: string, content: string, n: number) {
  expect(history).toHaveLength(2 + 2 * n);
  expect(history[0]).toMatchObject({ role: 'user', content });
  for (let i = 0; i < n; i++) {
    const id = `call_${turnId}_${i}`;
    expect(history[1 + 2 * i]).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [{ id, type: 'function', function: { name: 'clock', arguments: '{}' } }],
    });
    expect(history[2 + 2 * i]).toMatchObject({ role: 'tool', tool_call_id: id, name: 'clock' });
    expect(JSON.parse(history[2 + 2 * i].content).now).toMatch(/^\d{4}-\d\d-\d\dT/);
  }
  expect(history[history.length - 1]).toEqual({ role: 'assistant', content: `echo: ${content}` });
}

describe('the echo tool loop', () => {
  it('tool_steps: 3 records 7 messages in order, each as an SSE message event, counted in total_messages', async () => {
    const id = await createSession(base);
    const sse = await SseClient.open(`${base}/sessions/${id}/events`);
    expect((await sse.next())?.event).toBe('status'); // the snapshot
    const { turn_id } = await send(id, { content: 'what time is it?', user_params: { echo: { tool_steps: 3 } } });

    const events = await sse.until((e) => e.event === 'status' && e.data.status === 'idle');
    sse.close();
    const sent = events.filter((e) => e.event === 'message').map((e) => e.data);
    // Six step messages (steps 0, 0, 1, 1, 2, 2), then the reply (no step).
    expect(sent.map((d) => d.step)).toEqual([0, 0, 1, 1, 2, 2, undefined]);
    expect(sent.every((d) => d.turn_id === turn_id)).toBe(true);

    const history = await messages(id);
    expectToolLoop(history, turn_id, 'what time is it?', 3);
    // The events carry exactly the recorded messages, in the same order.
    expect(sent.map((d) => d.message)).toEqual(history.slice(1));
    const view = (await http(base, 'GET', `/sessions/${id}`)).body;
    expect(view).toMatchObject({ status: 'idle', total_messages: 8, response: { content: 'echo: what time is it?' } });
  });

  it('tool_steps: 0 (or no contract) is one step: the reply only', async () => {
    const id = await createSession(base);
    const { turn_id } = await send(id, { content: 'plain', user_params: { echo: { tool_steps: 0 } } });
    await waitForIdle(base, id);
    expectToolLoop(await messages(id), turn_id, 'plain', 0);
  });

  it('a bad contract is 422 naming the field; nothing is stored', async () => {
    const id = await createSession(base);
    for (const [echo, path] of [
      [{ tool_steps: 21 }, 'body.user_params.echo.tool_steps'],
      [{ tool_steps: -1 }, 'body.user_params.echo.tool_steps'],
      [{ tool_steps: 'three' }, 'body.user_params.echo.tool_steps'],
      [{ interrupt: { type: 'coffee' } }, 'body.user_params.echo.interrupt.type'],
      [{ tools: 1 }, 'body.user_params.echo'],
    ] as const) {
      const res = await http(base, 'POST', `/sessions/${id}/messages`, { content: 'x', user_params: { echo } });
      expect(res.status, JSON.stringify(echo)).toBe(422);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details[0].path).toBe(path);
    }
    expect(await messages(id)).toEqual([]);
  });

  it('past MAX_STEPS the turn ends with an error saying so (the steps taken stay recorded)', async () => {
    const id = await createSession(base);
    await send(id, { content: 'too long', user_params: { echo: { tool_steps: 7 } } });
    const view = await waitForIdle(base, id);
    expect(view.status).toBe('error');
    expect(view.error).toBe('Turn stopped: the agent took 6 steps without a final reply (max_steps)');
    expect(await messages(id)).toHaveLength(1 + 6 * 2);
  });
});

describe('durable steps', () => {
  it('a worker SIGKILLed between steps: the next worker goes on after the last recorded step; each step recorded once, each tool run once', async () => {
    const doomed = await baton.startWorker({ BATON_FAULT: 'kill:worker.after-step:2' });
    // Only the doomed worker takes turns until it dies: the others are stopped first.
    const others = baton.workers.filter((w) => w !== doomed && w.alive);
    await Promise.all(others.map((w) => w.stop()));

    const id = await createSession(base);
    const { turn_id } = await send(id, { content: 'survive', user_params: { echo: { tool_steps: 4 } } });
    const { signal } = await doomed.exited;
    expect(signal).toBe('SIGKILL');
    // Killed right after its second step was recorded: two steps in, the turn still running.
    expect(await messages(id)).toHaveLength(1 + 2 * 2);
    expect((await http(base, 'GET', `/sessions/${id}`)).body.status).toBe('running');

    const next = await baton.startWorker();
    expect((await waitForIdle(base, id)).status).toBe('idle');
    const history = await messages(id);
    expectToolLoop(history, turn_id, 'survive', 4);

    // Each clock call ran exactly once across both workers: steps 0–1 on the dead one, 2–3 on the next.
    const runs = (output: string) => [...output.matchAll(/"toolCallId":"(call_[^"]+)".*"msg":"tool executed"/g)].map((m) => m[1]);
    const ids = [0, 1, 2, 3].map((i) => `call_${turn_id}_${i}`);
    expect(runs(doomed.output)).toEqual(ids.slice(0, 2));
    expect(runs(next.output)).toEqual(ids.slice(2));
    await waitUntil(() => next.output.includes('turn claimed'), { what: 'the new worker to log its claim' });
    expect(next.output).toMatch(/"steps":2.*"msg":"turn claimed"/);
  });
});
