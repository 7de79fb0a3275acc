import { createRequire } from 'node:module';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { Baton, http } from './support/baton.ts';

/**
 * The official OpenHands TypeScript client (`@openhands/typescript-client`, unchanged)
 * through its README's flow against Baton, with API keys on: start, follow over the
 * events WebSocket, send, run, search, pause, delete.
 */

let baton: Baton;
let base: string;

beforeAll(async () => {
  baton = await Baton.start({ redisUrl: inject('redisUrl'), env: { ECHO_DELAY_MS: '100' }, apiEnv: { API_KEYS: 'k1,k2' } });
  base = baton.url;
});
afterAll(() => baton?.stop());

/**
 * The client's ES module build loads `ws` with a bare `require`, which ES modules do not
 * have: without one it never opens its WebSocket under Node. A `require` is provided
 * while the module loads (the client's own code is not touched).
 */
async function loadClient(): Promise<typeof import('@openhands/typescript-client')> {
  const scope = globalThis as { require?: NodeJS.Require };
  const before = scope.require;
  scope.require = createRequire(import.meta.url);
  try {
    return await import('@openhands/typescript-client');
  } finally {
    if (before === undefined) delete scope.require;
    else scope.require = before;
  }
}

const text = (event: any): string | undefined => event?.llm_message?.content?.find((c: any) => c.type === 'text')?.text;

it('start, WebSocket callback, send, run, search, pause, delete', async () => {
  const { Agent, Conversation, ConversationManager, Workspace } = await loadClient();
  const agent = new Agent({ llm: { model: 'gpt-4o-mini', api_key: 'unused' } });
  const workspace = new Workspace({ host: base, workingDir: '/tmp', apiKey: 'k1' });
  const seen: any[] = [];
  const errors: Error[] = [];
  const conversation = new Conversation(agent, workspace, { callback: (event: any) => seen.push(event), onError: (err: Error) => errors.push(err) });
  const manager = new ConversationManager({ host: base, apiKey: 'k1' });
  const status = (value: string) => (e: any) =>
    e.kind === 'ConversationStateUpdateEvent' && (e.key === 'execution_status' ? e.value === value : e.value?.execution_status === value);
  try {
    // The server routes: liveness, and a version the client's feature checks accept.
    expect(await manager.server.getAlive()).toMatchObject({ status: 'ok' });
    expect((await manager.server.getServerInfo()).version).toBe('1.44.0');

    await conversation.start({ initialMessage: 'Hello, can you help me?' });
    await conversation.startWebSocketClient();
    // The first turn ran on its own; the socket's state says when it is over.
    await waitUntil(() => seen.some(status('finished')), { timeoutMs: 15_000, what: 'the first turn over the socket' });

    const from = seen.length;
    await conversation.sendMessage('Flip a coin');
    await conversation.run();
    const reply = await waitUntil(() => seen.slice(from).find((e) => e.kind === 'MessageEvent' && e.source === 'agent'), {
      timeoutMs: 15_000,
      what: 'the reply over the socket',
    });
    expect(text(reply)).toBe('echo: Flip a coin');
    await waitUntil(() => seen.slice(seen.indexOf(reply)).some(status('finished')), { timeoutMs: 15_000, what: 'finished after the reply' });
    expect(await conversation.state.getExecutionStatus()).toBe('finished');
    expect(await conversation.getAgentFinalResponse()).toBe('echo: Flip a coin');
    // What the conversation was started with, the LLM key masked; no LLM usage to report.
    expect(await conversation.state.getAgent()).toMatchObject({ kind: 'Agent', llm: { model: 'gpt-4o-mini', api_key: '**********' } });
    expect(await conversation.state.getWorkspace()).toEqual({ type: 'local', working_dir: '/tmp' });
    expect(await conversation.conversationStats()).toEqual({ usage_to_metrics: {} });

    // Search: the conversation is listed, and its events (REST and socket, merged by id) are the turns.
    const found = await manager.searchConversations();
    expect(found.items.map((c: any) => c.id)).toContain(conversation.id);
    const events = (await conversation.state.events.getEvents()).filter((e: any) => e.kind === 'MessageEvent');
    expect(events.map(text)).toEqual(['Hello, can you help me?', 'echo: Hello, can you help me?', 'Flip a coin', 'echo: Flip a coin']);

    // Title and tags (PATCH /api/conversations/{id}), as the conversation and the manager set them.
    await conversation.setTitle('Coin flips');
    await manager.updateConversation(conversation.id, { tags: { team: 'core' } });
    expect(await manager.getConversation(conversation.id)).toMatchObject({ title: 'Coin flips', tags: { team: 'core' } });

    await conversation.pause();
    await waitUntil(() => seen.some(status('paused')), { timeoutMs: 15_000, what: 'paused over the socket' });

    await manager.deleteConversation(conversation.id);
    expect((await http(base, 'GET', `/api/conversations/${conversation.id}`, undefined, { 'X-Session-API-Key': 'k1' })).status).toBe(404);
    expect(errors).toEqual([]);
  } finally {
    await conversation.close();
    manager.close();
  }
});
