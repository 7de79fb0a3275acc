import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '@baton/core';
import type { StepInput } from './agent.ts';
import { EchoAgent } from './echo-agent.ts';

/** The echo agent's clock calls under `config.confirm_tool_calls`: recorded, then approved or refused. */
describe('EchoAgent with confirm_tool_calls', () => {
  const base = (messages: ChatMessage[], stepIndex: number, extra: Partial<StepInput> = {}): StepInput => ({
    sessionId: 's',
    turnId: 't1',
    messages,
    signal: new AbortController().signal,
    config: { confirm_tool_calls: true },
    userParams: { echo: { tool_steps: 1 } },
    stepIndex,
    turnStart: 1,
    ...extra,
  });

  it('records the call and waits; an approval runs the clock once; then the reply, without the approval in it', async () => {
    const runs: string[] = [];
    const agent = new EchoAgent(0, { onToolRun: (_tool, id) => runs.push(id), now: () => new Date('2026-01-01T00:00:00Z') });
    const history: ChatMessage[] = [{ role: 'user', content: 'tick' }];
    const first = await agent.step(base(history, 0));
    expect(first.messages).toEqual([{ role: 'assistant', content: null, tool_calls: [{ id: 'call_t1_0', type: 'function', function: { name: 'clock', arguments: '{}' } }] }]);
    expect(first.interrupt).toEqual({ type: 'tool_approval', payload: { tool_call_id: 'call_t1_0', name: 'clock', arguments: {} } });
    expect(runs).toEqual([]);
    history.push(...first.messages);
    const interrupt = { interrupt_id: 'i1', ...first.interrupt! };
    const second = await agent.step(base(history, 1, { resume: { interrupt, value: { approved: true } } }));
    expect(second.messages).toEqual([{ role: 'tool', tool_call_id: 'call_t1_0', name: 'clock', content: '{"now":"2026-01-01T00:00:00.000Z"}' }]);
    expect(runs).toEqual(['call_t1_0']);
    history.push(...second.messages);
    const last = await agent.step(base(history, 2));
    expect(last).toEqual({ messages: [{ role: 'assistant', content: 'echo: tick' }], done: true });
  });

  it('a refusal (anything but approved: true) becomes the call\'s result, with the reason; the clock never runs', async () => {
    const runs: string[] = [];
    const agent = new EchoAgent(0, { onToolRun: (_tool, id) => runs.push(id) });
    const history: ChatMessage[] = [{ role: 'user', content: 'tick' }];
    const first = await agent.step(base(history, 0));
    history.push(...first.messages);
    const interrupt = { interrupt_id: 'i1', ...first.interrupt! };
    const refused = await agent.step(base(history, 1, { resume: { interrupt, value: { approved: false, reason: 'no' } } }));
    expect(refused.messages).toEqual([{ role: 'tool', tool_call_id: 'call_t1_0', name: 'clock', content: 'Refused: the user did not approve this call: no' }]);
    expect(runs).toEqual([]);
    // Without an answer for it (a policy switched off meanwhile), the recorded call still waits.
    expect((await agent.step(base(history, 1, { config: {} }))).interrupt?.type).toBe('tool_approval');
  });
});
