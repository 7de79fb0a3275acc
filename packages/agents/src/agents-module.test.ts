import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatMessage, ConfigError } from '@baton/core';
import type { StepInput } from './agent.ts';
import { FakeOpenAI } from '@baton/devtools';
import { loadAgentsModule } from './agents-module.ts';
import { isToolAgent } from './define-agent.ts';
import { AgentCatalog, agentAvailability, checkDefaultAgent, makeAgentRegistry, type AgentsConfig } from './registry.ts';

// Inside the package, so the modules resolve `@baton/agents` as a user's module in the repo does.
const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
let dir: string;
let fake: FakeOpenAI;

beforeAll(async () => {
  dir = await mkdtemp(join(PACKAGE, '.tmp-modules-'));
  fake = await FakeOpenAI.start();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await fake?.close();
});

let count = 0;
/** Writes a module file and returns its path. */
async function module(source: string): Promise<string> {
  const file = join(dir, `agents-${++count}.ts`);
  await writeFile(file, source);
  return file;
}

const TWO_AGENTS = `
import { z } from 'zod';
import { defineAgent, tool } from '@baton/agents';
const double = tool({ name: 'double', description: 'Doubles', parameters: z.object({ n: z.number() }), execute: ({ n }: { n: number }) => n * 2 });
const mathy = defineAgent({ name: 'mathy', model: { model: 'math-model' }, tools: [double] });
export default [mathy, defineAgent({ name: 'chatty', system: 'Chat.' })];
`;

async function loadError(path: string, cwd?: string): Promise<Error> {
  const err = await loadAgentsModule(path, cwd).then(
    () => null,
    (e: unknown) => e as Error,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as Error;
}

describe('loadAgentsModule', () => {
  it('loads a TypeScript module whose default export is an array of defineAgent agents, by a path relative to cwd', async () => {
    const file = await module(TWO_AGENTS);
    const agents = await loadAgentsModule(relative(PACKAGE, file), PACKAGE);
    expect(agents.map((a) => a.name)).toEqual(['mathy', 'chatty']);
    expect(agents.every(isToolAgent)).toBe(true);
    expect(await loadAgentsModule(file)).toHaveLength(2);
  });

  it('refuses, with a ConfigError naming AGENTS_MODULE and the problem: a missing file, a broken module, a wrong export, a clash', async () => {
    expect((await loadError('./nowhere.ts', dir)).message).toBe(
      `Invalid configuration:\n  AGENTS_MODULE: ./nowhere.ts: no such file (looked for ${join(dir, 'nowhere.ts')})`,
    );
    const broken = await module(`throw new Error('boom at load');`);
    expect((await loadError(broken)).message).toContain(': the module failed to load: boom at load');
    const named = await module(`import { defineAgent } from '@baton/agents';\nexport const a = defineAgent({ name: 'a' });`);
    expect((await loadError(named)).message).toContain(': its default export must be an array of agents built with defineAgent');
    const plain = await module(`import { defineAgent } from '@baton/agents';\nexport default [defineAgent({ name: 'a' }), { name: 'b', step() {} }];`);
    expect((await loadError(plain)).message).toContain(': default export [1] is not an agent built with defineAgent');
    const clash = await module(`import { defineAgent } from '@baton/agents';\nexport default [defineAgent({ name: 'openai' })];`);
    expect((await loadError(clash)).message).toContain(': agent "openai" has the name of a built-in agent (echo, openai, http); rename it');
    const twice = await module(`import { defineAgent } from '@baton/agents';\nexport default [defineAgent({ name: 'x' }), defineAgent({ name: 'x' })];`);
    expect((await loadError(twice)).message).toContain(': two agents are named "x"');
  });
});

describe('the example module (examples/agents/my-agents.ts)', () => {
  it("runs its calculator with the session's precision, and deletes a file only once a person approves", async () => {
    const example = join(PACKAGE, '../../examples/agents/my-agents.ts');
    const [assistant] = await loadAgentsModule(example);
    const { files } = (await import('../../../examples/agents/my-agents.ts')) as { files: Record<string, string> };
    const agent = assistant!.connect({ baseURL: fake.baseURL, apiKey: 'k', model: 'm' });
    fake.reset();
    fake.script(
      { content: null, tool_calls: [{ id: 'c1', name: 'calculator', arguments: '{"op":"divide","a":2,"b":3}' }, { id: 'd1', name: 'delete_file', arguments: '{"path":"old.log"}' }] },
      { content: 'Done.' },
    );
    const history: ChatMessage[] = [{ role: 'user', content: '2/3, and delete old.log' }];
    const base = { sessionId: 's', turnId: 't', signal: new AbortController().signal, config: { precision: 2 }, turnStart: 1 };
    const step = (stepIndex: number, resume?: StepInput['resume']) => agent.step({ ...base, messages: history, stepIndex, ...(resume ? { resume } : {}) });
    history.push(...(await step(0)).messages);
    history.push(...(await step(1)).messages);
    expect(history.at(-1)).toStrictEqual({ role: 'tool', content: '0.67', tool_call_id: 'c1', name: 'calculator' });
    const asked = await step(2);
    expect(asked.interrupt).toEqual({ type: 'tool_approval', payload: { tool_call_id: 'd1', name: 'delete_file', arguments: { path: 'old.log' } } });
    expect(files).toHaveProperty('old.log');
    const interrupt = { ...asked.interrupt!, interrupt_id: 'i1' };
    history.push(...(await step(2, { interrupt, value: { approved: true } })).messages);
    expect(history.at(-1)?.content).toBe('deleted old.log');
    expect(files).not.toHaveProperty('old.log');
    expect(await step(3)).toStrictEqual({ messages: [{ role: 'assistant', content: 'Done.' }], done: true });
    expect(fake.requests[0]?.body.messages[0].content).toMatch(/^You are a careful assistant/);
  });
});

describe('the registry and catalog with module agents', () => {
  const config = (over: Partial<AgentsConfig['openai']> = {}): AgentsConfig => ({
    echoDelayMs: 0,
    openai: { baseURL: fake.baseURL, apiKey: 'sk-test', model: 'server-model', ...over },
    http: {},
  });

  it("binds module agents to the server's model endpoint; their own model wins over OPENAI_MODEL", async () => {
    const modules = await loadAgentsModule(await module(TWO_AGENTS));
    const runs: string[] = [];
    const agentFor = makeAgentRegistry(config(), { modules, onToolRun: (tool, id) => runs.push(`${tool}:${id}`) });
    fake.reset();
    fake.script({ content: null, tool_calls: [{ id: 'd1', name: 'double', arguments: '{"n":21}' }] }, { content: 'hello' });
    const input = { sessionId: 's', turnId: 't', signal: new AbortController().signal, config: {}, stepIndex: 0, turnStart: 1 };
    const first = await agentFor('mathy').step({ ...input, messages: [{ role: 'user', content: 'double 21' }] });
    const second = await agentFor('mathy').step({ ...input, messages: [{ role: 'user', content: 'double 21' }, ...first.messages], stepIndex: 1 });
    expect(second.messages).toStrictEqual([{ role: 'tool', content: '42', tool_call_id: 'd1', name: 'double' }]);
    expect(runs).toEqual(['double:d1']);
    await agentFor('openai').step({ ...input, messages: [{ role: 'user', content: 'hi' }] });
    expect(fake.requests.map((r) => r.body.model)).toEqual(['math-model', 'server-model']);
    expect(fake.requests[1]?.body).not.toHaveProperty('tools');
    expect(agentFor('mathy')).toBe(agentFor('mathy'));
    expect(() => agentFor('nobody')).toThrow('unknown agent "nobody"');
    expect(() => agentFor('http')).toThrow('the http agent needs HTTP_AGENT_URL');
  });

  it('lists built-ins then module agents, says which need configuring, and checks AGENT', async () => {
    const modules = await loadAgentsModule(await module(TWO_AGENTS));
    expect(agentAvailability(config(), modules)).toEqual({ echo: null, openai: null, http: 'set HTTP_AGENT_URL', mathy: null, chatty: null });
    const bare = new AgentCatalog({ echoDelayMs: 0, openai: { model: 'm' }, http: { url: 'http://127.0.0.1:9/agent' } }, modules);
    expect(bare.names).toEqual(['echo', 'openai', 'http', 'mathy', 'chatty']);
    expect(bare.unavailable('mathy')).toBe('set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)');
    expect(bare.unavailable('http')).toBeNull();
    expect(bare.configSchema('echo').safeParse({ model: 'x' }).success).toBe(false);
    expect(bare.configSchema('http').parse({ anything: [1], max_steps: 4 })).toEqual({ anything: [1], max_steps: 4 });
    expect(bare.configSchema('mathy').safeParse({ temperature: 9 }).success).toBe(false);
    expect(() => checkDefaultAgent('chatty', modules)).not.toThrow();
    expect(() => checkDefaultAgent('ghost', modules)).toThrow('AGENT: unknown agent "ghost"; the agents are echo, openai, http, mathy, chatty');
  });
});
