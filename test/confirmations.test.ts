import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http, waitForIdle } from './support/baton.ts';
import { WsProbe } from './support/ws-probe.ts';

/**
 * Human in the loop on the other APIs, with real processes: OpenHands confirmation mode
 * (`confirmation_policy`, `waiting_for_confirmation` over HTTP and the WebSocket,
 * `respond_to_confirmation`), the V1 app server's status, and agenhq's ask-user exchange.
 * Turns come from the echo agent's test contract, sent through the native API to the same
 * session (a conversation IS a session).
 */

let baton: Baton;
let base: string;

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: { ECHO_DELAY_MS: '50' } });
  base = baton.url;
});
afterAll(() => baton?.stop());

const oh = (method: string, path: string, body?: unknown) => http(base, method, `/api/conversations${path}`, body);

async function conversation(): Promise<string> {
  const res = await oh('POST', '', {});
  expect(res.status).toBe(201);
  return res.body.id;
}

/** Sends a message with the echo contract's `user_params.echo` through the native API. */
async function nativeSend(id: string, content: string, echo: Record<string, unknown>): Promise<void> {
  const res = await http(base, 'POST', `/sessions/${id}/messages`, { content, user_params: { echo } });
  expect(res.status).toBe(202);
}

async function info(id: string): Promise<any> {
  const res = await oh('GET', `/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

const waitStatus = (id: string, status: string) =>
  waitUntil(async () => ((await info(id)).execution_status === status ? true : null), { timeoutMs: 15_000, what: `execution_status ${status}` });

/** The interrupt the session waits on, once it waits. */
const waitingCall = (id: string) =>
  waitUntil(
    async () => {
      const view = (await http(base, 'GET', `/sessions/${id}`)).body;
      return view.status === 'interrupted' ? view.interrupts[0] : null;
    },
    { timeoutMs: 15_000, what: 'an interrupt' },
  );

async function searchEvents(id: string): Promise<any[]> {
  const res = await oh('GET', `/${id}/events/search`);
  expect(res.status).toBe(200);
  return res.body.items;
}

const history = async (id: string) => (await http(base, 'GET', `/sessions/${id}/messages`)).body as any[];

describe('OpenHands confirmation mode', () => {
  it('AlwaysConfirm: each tool call waits (waiting_for_confirmation over HTTP and the WebSocket, the action as an ActionEvent); accept runs it; the turn finishes', async () => {
    const id = await conversation();
    const socket = WsProbe.open(base, id);
    await socket.opened();
    await socket.waitFor((f) => f.key === 'full_state', 'full_state');

    const set = await oh('POST', `/${id}/confirmation_policy`, { policy: { kind: 'AlwaysConfirm' } });
    expect(set).toMatchObject({ status: 200, body: { success: true } });
    expect((await info(id)).confirmation_policy).toEqual({ kind: 'AlwaysConfirm' });

    await nativeSend(id, 'tick twice', { tool_steps: 2 });
    for (const step of [0, 1]) {
      const interrupt = await waitingCall(id);
      expect(interrupt).toMatchObject({ type: 'tool_approval', payload: { name: 'clock' } });
      const callId = interrupt.payload.tool_call_id as string;
      expect(callId).toMatch(new RegExp(`_${step}$`));
      expect((await info(id)).execution_status).toBe('waiting_for_confirmation');
      // The pending action: an ActionEvent with no result recorded for its call yet.
      const events = await searchEvents(id);
      const action = events.find((e) => e.kind === 'ActionEvent' && e.tool_call_id === callId);
      expect(action).toMatchObject({ source: 'agent', tool_name: 'clock', tool_call: { id: callId, name: 'clock' } });
      expect(events.some((e) => e.kind === 'MessageEvent' && e.llm_message.tool_call_id === callId)).toBe(false);
      await socket.waitFor((f) => f.kind === 'ActionEvent' && f.tool_call_id === callId, `the ActionEvent of ${callId}`);
      await waitUntil(() => (socket.statuses.filter((s) => s === 'waiting_for_confirmation').length > step ? true : null), {
        timeoutMs: 15_000,
        what: 'waiting_for_confirmation on the socket',
      });

      const accept = await oh('POST', `/${id}/events/respond_to_confirmation`, { accept: true });
      expect(accept).toMatchObject({ status: 200, body: { success: true } });
    }
    await waitStatus(id, 'finished');
    await socket.waitFor((f) => f.key === 'execution_status' && f.value === 'finished', 'finished on the socket');
    const messages = await history(id);
    const results = messages.filter((m) => m.role === 'tool');
    expect(results).toHaveLength(2);
    for (const r of results) expect(JSON.parse(r.content).now).toMatch(/^\d{4}-/);
    expect(messages[messages.length - 1]).toMatchObject({ role: 'assistant', content: 'echo: tick twice' });
    expect(socket.statuses).toContain('running');
    await socket.close();
  });

  it('a rejection becomes the tool call\'s result and the turn goes on; NeverConfirm then runs tool calls without stopping', async () => {
    const id = await conversation();
    expect((await oh('POST', `/${id}/confirmation_policy`, { policy: { kind: 'AlwaysConfirm' } })).status).toBe(200);
    await nativeSend(id, 'tick', { tool_steps: 1 });
    const interrupt = await waitingCall(id);
    const reject = await oh('POST', `/${id}/events/respond_to_confirmation`, { accept: false, reason: 'not today' });
    expect(reject).toMatchObject({ status: 200, body: { success: true } });
    await waitStatus(id, 'finished');
    const messages = await history(id);
    expect(messages.find((m) => m.role === 'tool')).toMatchObject({
      tool_call_id: interrupt.payload.tool_call_id,
      content: 'Refused: the user did not approve this call: not today',
    });
    expect(messages[messages.length - 1]).toMatchObject({ role: 'assistant', content: 'echo: tick' });

    expect((await oh('POST', `/${id}/confirmation_policy`, { policy: { kind: 'NeverConfirm' } })).status).toBe(200);
    expect((await info(id)).confirmation_policy).toEqual({ kind: 'NeverConfirm' });
    await nativeSend(id, 'tock', { tool_steps: 1 });
    const view = await waitForIdle(base, id);
    expect(view.status).toBe('idle');
    expect(view.response.content).toBe('echo: tock');
  });

  it('respond_to_confirmation: 409 when nothing waits, 422 without accept, 404 for an unknown conversation; a route, never an event id', async () => {
    const id = await conversation();
    const idle = await oh('POST', `/${id}/events/respond_to_confirmation`, { accept: true });
    expect(idle).toMatchObject({ status: 409, body: { detail: 'Conversation has no action waiting for confirmation' } });
    const missing = await oh('POST', `/${id}/events/respond_to_confirmation`, {});
    expect(missing.status).toBe(422);
    expect(missing.body.detail[0]).toMatchObject({ type: 'missing', loc: ['body', 'accept'] });
    const unknown = await oh('POST', `/${crypto.randomUUID()}/events/respond_to_confirmation`, { accept: true });
    expect(unknown.status).toBe(404);
    // A user_input question is not a confirmation.
    await nativeSend(id, 'ask', { interrupt: { type: 'user_input', payload: { question: 'Which?' } } });
    await waitingCall(id);
    const question = await oh('POST', `/${id}/events/respond_to_confirmation`, { accept: true });
    expect(question).toMatchObject({ status: 409, body: { detail: 'Conversation waits for user input, not for a confirmation' } });
  });

  it('confirmation_policy checks its body: ConfirmRisky confirms every call (Baton\'s are of unknown risk) unless confirm_unknown is false', async () => {
    const id = await conversation();
    const bad = await oh('POST', `/${id}/confirmation_policy`, { policy: { kind: 'Sometimes' } });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0]).toMatchObject({ type: 'union_tag_invalid', loc: ['body', 'policy', 'kind'] });
    expect((await oh('POST', `/${id}/confirmation_policy`, {})).body.detail[0]).toMatchObject({ type: 'missing', loc: ['body', 'policy'] });

    expect((await oh('POST', `/${id}/confirmation_policy`, { policy: { kind: 'ConfirmRisky', confirm_unknown: false } })).status).toBe(200);
    await nativeSend(id, 'free', { tool_steps: 1 });
    expect((await waitForIdle(base, id)).response.content).toBe('echo: free');

    expect((await oh('POST', `/${id}/confirmation_policy`, { policy: { kind: 'ConfirmRisky' } })).status).toBe(200);
    expect((await info(id)).confirmation_policy).toEqual({ kind: 'ConfirmRisky', threshold: 'HIGH', confirm_unknown: true });
    await nativeSend(id, 'held', { tool_steps: 1 });
    expect((await waitingCall(id)).type).toBe('tool_approval');
  });

  it('secrets, security_analyzer and condense answer {success: true}; secrets are never returned; bad bodies are 422', async () => {
    const id = await conversation();
    const secrets = await oh('POST', `/${id}/secrets`, { secrets: { GITHUB_TOKEN: 'ghp_very_secret_value', OTHER: { kind: 'StaticSecret', value: 'x' } } });
    expect(secrets).toMatchObject({ status: 200, body: { success: true } });
    expect(JSON.stringify(await info(id))).not.toContain('ghp_very_secret_value');
    expect(JSON.stringify(await searchEvents(id))).not.toContain('ghp_very_secret_value');
    expect((await oh('POST', `/${id}/secrets`, { secrets: { A: 1 } })).status).toBe(422);
    expect((await oh('POST', `/${id}/secrets`, {})).body.detail[0]).toMatchObject({ type: 'missing', loc: ['body', 'secrets'] });

    expect(await oh('POST', `/${id}/security_analyzer`, { security_analyzer: { kind: 'LLMSecurityAnalyzer' } })).toMatchObject({ status: 200, body: { success: true } });
    expect((await oh('POST', `/${id}/security_analyzer`, { security_analyzer: null })).status).toBe(200);
    expect((await oh('POST', `/${id}/security_analyzer`, {})).status).toBe(422);

    expect(await oh('POST', `/${id}/condense`, {})).toMatchObject({ status: 200, body: { success: true } });
    expect((await oh('POST', `/${crypto.randomUUID()}/condense`, {})).status).toBe(404);
  });
});

describe('OpenHands V1 app server', () => {
  it('an app conversation waiting for a tool approval has execution_status waiting_for_confirmation', async () => {
    const task = (await http(base, 'POST', '/api/v1/app-conversations', {})).body;
    const id = task.app_conversation_id as string;
    await nativeSend(id, 'deploy', { interrupt: { type: 'tool_approval', payload: { tool: 'deploy' } } });
    const interrupt = await waitingCall(id);
    const one = await http(base, 'GET', `/api/v1/app-conversations/${id}`);
    expect(one.body).toMatchObject({ id, sandbox_status: 'RUNNING', execution_status: 'waiting_for_confirmation' });
    const listed = await http(base, 'GET', `/api/v1/app-conversations/search`);
    expect(listed.body.items.find((c: any) => c.id === id)?.execution_status).toBe('waiting_for_confirmation');
    expect((await http(base, 'POST', `/sessions/${id}/resume`, { interrupt_id: interrupt.interrupt_id, value: { approved: true } })).status).toBe(200);
    await waitForIdle(base, id);
    const after = await http(base, 'GET', `/api/v1/app-conversations/${id}`);
    expect(after.body.execution_status).not.toBe('waiting_for_confirmation');
  });
});

describe('agenhq ask-user', () => {
  const API = '/api/v1/sessions';
  const agenhqEvents = async (id: string) => (await http(base, 'GET', `${API}/${id}/events`)).body as any[];

  it('a user_input interrupt shows as agent_ask_user; the next message answers it (user_ask_user_response) and the turn goes on with it', async () => {
    const id = (await http(base, 'POST', API, {})).body.id as string;
    await nativeSend(id, 'deploy', { interrupt: { type: 'user_input', payload: { question: 'Which environment?' } } });
    await waitingCall(id);
    expect((await http(base, 'GET', `${API}/${id}`)).body.agent_status).toBe('waiting_for_input');
    const asked = await agenhqEvents(id);
    const ask = asked[asked.length - 1];
    expect(ask).toMatchObject({
      type: 'agent_ask_user',
      status: 'completed',
      payload: { type: 'agent_ask_user', message: 'Which environment?', question: { question: 'Which environment?' } },
    });

    const answer = await http(base, 'POST', `${API}/${id}/messages`, { message: 'staging', client_id: 'c-1' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ type: 'user_ask_user_response', payload: { type: 'user_ask_user_response', message: 'staging' }, client_id: 'c-1', status: 'completed' });

    const view = await waitForIdle(base, id);
    expect(view.response.content).toBe('echo: deploy "staging"');
    expect(view.pending_messages).toBe(0);
    const after = await agenhqEvents(id);
    expect(after.map((e) => e.type)).toEqual(['user_message', 'agent_ask_user', 'user_ask_user_response', 'agent_message']);
    expect(after[1].id).toBe(ask.id);
    expect(after[2]).toMatchObject({ id: answer.body.id, payload: { message: 'staging' } });
    expect(after[3].payload.message).toBe('echo: deploy "staging"');
    // No question waits now: the next message is an ordinary one.
    const next = await http(base, 'POST', `${API}/${id}/messages`, { message: 'thanks' });
    expect(next.body.type).toBe('user_message');
  });
});
