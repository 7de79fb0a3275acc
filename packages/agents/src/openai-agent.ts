import { ToolAgent, type ModelConnection } from './define-agent.ts';

export type OpenAIAgentOptions = ModelConnection;

/**
 * The built-in `openai` agent: any OpenAI-compatible Chat Completions endpoint, through the
 * official client (OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL). A `defineAgent` agent with
 * no tools and no system prompt: a session's `config` sets `model`, `system`, `temperature`…
 */
export class OpenAIAgent extends ToolAgent {
  constructor(options: OpenAIAgentOptions) {
    super({ name: 'openai', tools: [] }, options);
  }
}

export { toOpenAI } from './chat-completions.ts';
