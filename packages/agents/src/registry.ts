import type { AgentName } from '@baton/core';
import type { Agent } from './agent.ts';
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

/** Which agents can run with this configuration, and why the others can't. */
export function agentAvailability(config: AgentsConfig): Record<AgentName, string | null> {
  return {
    echo: null,
    openai: config.openai.apiKey || config.openai.baseURL ? null : 'set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)',
    http: config.http.url ? null : 'set HTTP_AGENT_URL',
  };
}

export interface AgentHooks {
  /** Told of each run of a built-in tool (the echo agent's `clock`). */
  onToolRun?: (tool: string, toolCallId: string) => void;
}

/** Builds each agent once, on first use. */
export function makeAgentRegistry(config: AgentsConfig, hooks: AgentHooks = {}): (name: string) => Agent {
  const cache = new Map<string, Agent>();
  return (name) => {
    let agent = cache.get(name);
    if (agent) return agent;
    switch (name) {
      case 'echo':
        agent = new EchoAgent(config.echoDelayMs, hooks.onToolRun ? { onToolRun: hooks.onToolRun } : {});
        break;
      case 'openai':
        agent = new OpenAIAgent({ baseURL: config.openai.baseURL, apiKey: config.openai.apiKey ?? 'unset', model: config.openai.model });
        break;
      case 'http':
        if (!config.http.url) throw new Error('the http agent needs HTTP_AGENT_URL');
        agent = new HttpAgent(config.http.url, config.http.token ? { authorization: `Bearer ${config.http.token}` } : {});
        break;
      default:
        throw new Error(`unknown agent ${JSON.stringify(name)}`);
    }
    cache.set(name, agent);
    return agent;
  };
}
