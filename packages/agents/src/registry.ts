import type { z } from 'zod';
import { AGENT_NAMES, ConfigError } from '@baton/core';
import type { Agent, StepAgent } from './agent.ts';
import { EchoAgentConfig, HttpAgentConfig, ModelAgentConfig } from './agent-config.ts';
import type { ModelConnection, ToolAgent } from './define-agent.ts';
import { EchoAgent } from './echo-agent.ts';
import { HttpAgent } from './http-agent.ts';
import { OpenAIAgent } from './openai-agent.ts';

export interface AgentsConfig {
  echoDelayMs: number;
  openai: { baseURL?: string; apiKey?: string; model: string };
  http: { url?: string; token?: string };
}

/** The agents' settings, from the parsed environment (`CommonEnv`). */
export function agentsConfigFromEnv(env: {
  ECHO_DELAY_MS: number;
  OPENAI_BASE_URL?: string;
  OPENAI_API_KEY?: string;
  OPENAI_MODEL: string;
  HTTP_AGENT_URL?: string;
  HTTP_AGENT_TOKEN?: string;
}): AgentsConfig {
  return {
    echoDelayMs: env.ECHO_DELAY_MS,
    openai: { baseURL: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY, model: env.OPENAI_MODEL },
    http: { url: env.HTTP_AGENT_URL, token: env.HTTP_AGENT_TOKEN },
  };
}

const NEEDS_OPENAI = 'set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)';

/**
 * The agents a session may name on this server: the built-ins and `AGENTS_MODULE`'s. The API
 * uses it to check `agent` and `config` at create; it runs no agent code.
 */
export class AgentCatalog {
  private readonly modules: Map<string, ToolAgent>;

  constructor(
    private readonly config: AgentsConfig,
    modules: ToolAgent[] = [],
  ) {
    this.modules = new Map(modules.map((a) => [a.name, a]));
  }

  /** Built-ins first, then the module's, in its order. */
  get names(): string[] {
    return [...AGENT_NAMES, ...this.modules.keys()];
  }

  has(name: string): boolean {
    return (AGENT_NAMES as readonly string[]).includes(name) || this.modules.has(name);
  }

  /** Null when the agent can run with this configuration, else what to set. */
  unavailable(name: string): string | null {
    const openai = this.config.openai.apiKey || this.config.openai.baseURL ? null : NEEDS_OPENAI;
    if (name === 'http') return this.config.http.url ? null : 'set HTTP_AGENT_URL';
    if (name === 'echo') return null;
    return openai;
  }

  /** What a session's `config` may hold for the agent (strict: unknown fields are refused, except for `http`). */
  configSchema(name: string): z.ZodType<Record<string, unknown>> {
    if (name === 'echo') return EchoAgentConfig;
    if (name === 'http') return HttpAgentConfig;
    return this.modules.get(name)?.configSchema ?? ModelAgentConfig;
  }
}

/** Which agents can run with this configuration, and why the others can't. */
export function agentAvailability(config: AgentsConfig, modules: ToolAgent[] = []): Record<string, string | null> {
  const catalog = new AgentCatalog(config, modules);
  return Object.fromEntries(catalog.names.map((name) => [name, catalog.unavailable(name)]));
}

/** The server's model endpoint, as module agents and the `openai` agent call it. */
export function modelConnection(config: AgentsConfig): ModelConnection {
  return { baseURL: config.openai.baseURL, apiKey: config.openai.apiKey ?? 'unset', model: config.openai.model };
}

/** The built-in agents, built for this configuration (`http` is null without HTTP_AGENT_URL). */
export function builtInAgents(config: AgentsConfig, hooks: AgentHooks = {}): { echo: StepAgent; openai: ToolAgent; http: HttpAgent | null } {
  return {
    echo: stepAgentOf(new EchoAgent(config.echoDelayMs, hooks.onToolRun ? { onToolRun: hooks.onToolRun } : {}) as Agent | StepAgent),
    openai: new OpenAIAgent(modelConnection(config)),
    http: config.http.url ? new HttpAgent(config.http.url, config.http.token ? { authorization: `Bearer ${config.http.token}` } : {}) : null,
  };
}

export interface AgentHooks {
  /** Told of each tool run, before it runs (module agents' tools). */
  onToolRun?: (tool: string, toolCallId: string) => void;
}

export interface RegistryOptions extends AgentHooks {
  /** `AGENTS_MODULE`'s agents (`loadAgentsModule`). */
  modules?: ToolAgent[];
}

/**
 * Every agent a worker can run, by name: the built-ins and `AGENTS_MODULE`'s agents, bound
 * to the server's model endpoint. Each is built once, on first use; an unknown name throws.
 */
export function makeAgentRegistry(config: AgentsConfig, options: RegistryOptions = {}): (name: string) => StepAgent {
  const cache = new Map<string, StepAgent>();
  const byName = new Map((options.modules ?? []).map((a) => [a.name, a]));
  const hooks: AgentHooks = options.onToolRun ? { onToolRun: options.onToolRun } : {};
  return (name) => {
    let agent = cache.get(name);
    if (agent) return agent;
    const defined = byName.get(name);
    if (defined) agent = defined.connect(modelConnection(config), hooks);
    else if (name === 'echo' || name === 'openai') agent = builtInAgents(config, hooks)[name];
    else if (name === 'http') {
      const http = builtInAgents(config).http;
      if (!http) throw new Error('the http agent needs HTTP_AGENT_URL');
      agent = http;
    } else throw new Error(`unknown agent ${JSON.stringify(name)}`);
    cache.set(name, agent);
    return agent;
  };
}

/**
 * A step agent from a one-call agent (`run`): its one step is the whole turn. Agents that are
 * step agents already are returned as they are.
 */
function stepAgentOf(agent: Agent | StepAgent): StepAgent {
  if ('step' in agent) return agent;
  return {
    name: agent.name,
    step: async ({ sessionId, turnId, messages, signal, onDelta }) => {
      const reply = await agent.run({ sessionId, turnId, messages, signal, ...(onDelta ? { onDelta } : {}) });
      return { messages: [{ ...reply, role: 'assistant' }], done: true };
    },
  };
}

/** Checks that the default agent (`AGENT`) exists; a ConfigError naming the known ones otherwise. */
export function checkDefaultAgent(name: string, modules: ToolAgent[]): void {
  const known = [...AGENT_NAMES, ...modules.map((a) => a.name)];
  if (!known.includes(name)) {
    throw new ConfigError(`Invalid configuration:\n  AGENT: unknown agent ${JSON.stringify(name)}; the agents are ${known.join(', ')}`);
  }
}
