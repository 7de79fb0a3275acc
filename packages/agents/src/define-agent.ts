import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionTool } from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { ChatMessage } from '@baton/core';
import { AgentError, type StepAgent, type StepInput, type StepResult } from './agent.ts';
import { MAX_STEPS_LIMIT, modelAgentConfig } from './agent-config.ts';
import { completeChat, toOpenAIHistory } from './chat-completions.ts';
import { TOOL_NAME, type Tool, type ToolContext, UserInputRequest } from './tool.ts';

/** Model settings; a session's `config` overrides each. */
export interface ModelSettings {
  /** Unset: the server's `OPENAI_MODEL`. */
  model?: string;
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
}

export interface AgentDefinition {
  /** How sessions name it (`"agent"` at create): letters, digits, `_`, `.` and `-`, up to 64; not a built-in's. */
  name: string;
  model?: ModelSettings;
  /** The system prompt, sent first on every model call (a session's `config.system` replaces it). */
  system?: string;
  tools?: Tool[];
  /** The most steps one turn may take (a session's `config.max_steps` overrides it). */
  maxSteps?: number;
  /** Fields a session's `config` may carry besides the model settings; tools read them in `ctx.config`. */
  configSchema?: z.ZodObject;
}

/** Where the model is: the server's OpenAI-compatible endpoint (OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL). */
export interface ModelConnection {
  baseURL?: string;
  apiKey: string;
  /** The model when neither the agent nor the session names one. */
  model: string;
}

export const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Tool results past this are cut (they are recorded in Redis with the history). */
export const MAX_TOOL_RESULT_CHARS = 1024 * 1024;
const BRAND = Symbol.for('baton.tool-agent');

type ToolCall = NonNullable<ChatMessage['tool_calls']>[number];

/**
 * Builds an agent that runs the tool loop with the server's OpenAI-compatible endpoint
 * (see `ToolAgent`). Export it from your `AGENTS_MODULE`; workers bind it to the endpoint.
 * Throws a TypeError naming what is wrong with the definition.
 */
export function defineAgent(definition: AgentDefinition): ToolAgent {
  const { name, tools = [], maxSteps, configSchema } = definition;
  if (typeof name !== 'string' || !AGENT_NAME.test(name)) {
    throw new TypeError(`agent name ${JSON.stringify(name)} must be 1-64 letters, digits, _, . or -, starting with a letter or digit`);
  }
  const seen = new Set<string>();
  for (const t of tools) {
    if (!t || typeof t.parse !== 'function' || !TOOL_NAME.test(t.name)) throw new TypeError(`agent ${name}: every tool must be built with tool()`);
    if (seen.has(t.name)) throw new TypeError(`agent ${name}: two tools are named ${JSON.stringify(t.name)}`);
    seen.add(t.name);
  }
  if (maxSteps !== undefined && !(Number.isInteger(maxSteps) && maxSteps >= 1 && maxSteps <= MAX_STEPS_LIMIT)) {
    throw new TypeError(`agent ${name}: maxSteps must be an integer from 1 to ${MAX_STEPS_LIMIT}`);
  }
  if (configSchema !== undefined && !(configSchema instanceof z.ZodObject)) {
    throw new TypeError(`agent ${name}: configSchema must be a z.object({...})`);
  }
  return new ToolAgent({ ...definition, tools: [...tools] });
}

/**
 * An agent that runs the tool loop, one step at a time (`StepAgent`). Each step looks at the
 * current turn's tail of the history:
 * - the last assistant message has tool calls without a recorded `tool` message: the step
 *   handles the FIRST such call, and only it (so each result is recorded as soon as it
 *   exists, and a crash reruns at most the one call that was running): bad arguments or an
 *   unknown tool give a `tool` message with the error; a call that needs approval (the tool's
 *   `needsApproval`, or every call when the session's `config.confirm_tool_calls`) and has no
 *   `resume` for it stops the turn with a `tool_approval` interrupt; otherwise `execute` runs
 *   and its result is recorded;
 * - otherwise the step calls the model with the history and the tools, and returns its
 *   assistant message (`done` when it calls no tool).
 */
export class ToolAgent implements StepAgent {
  readonly [BRAND] = true;
  readonly name: string;
  readonly maxSteps?: number;
  /** What a session's `config` may hold for this agent. */
  readonly configSchema: z.ZodType<Record<string, unknown>>;
  private readonly tools: Map<string, Tool>;
  private client: OpenAI | null = null;

  constructor(
    readonly definition: AgentDefinition,
    readonly connection?: ModelConnection,
    private readonly hooks: { onToolRun?: (tool: string, toolCallId: string) => void } = {},
  ) {
    this.name = definition.name;
    if (definition.maxSteps !== undefined) this.maxSteps = definition.maxSteps;
    this.configSchema = modelAgentConfig(definition.configSchema);
    this.tools = new Map((definition.tools ?? []).map((t) => [t.name, t]));
  }

  /**
   * The same agent, calling the model at `connection` (workers bind module agents to the
   * server's endpoint); `onToolRun` is told of each tool run, just before it runs.
   */
  connect(connection: ModelConnection, hooks: { onToolRun?: (tool: string, toolCallId: string) => void } = {}): ToolAgent {
    return new ToolAgent(this.definition, connection, hooks);
  }

  async step(input: StepInput): Promise<StepResult> {
    input.signal.throwIfAborted();
    const pending = pendingCall(input.messages);
    if (pending) return this.runCall(pending, input);
    const reply = await this.callModel(input);
    if (!reply.tool_calls?.length) return { messages: [reply], done: true };
    // A stable id for every call, even from a server that sent none: reruns go by it.
    reply.tool_calls = reply.tool_calls.map((c) => (c.id ? c : { ...c, id: `call_${randomUUID()}` }));
    return { messages: [reply], done: false };
  }

  /** One pending tool call: its `tool` message, or an interrupt that stops the turn for a person. */
  private async runCall(call: ToolCall, input: StepInput): Promise<StepResult> {
    const name = call.function.name;
    const result = (content: string): StepResult => ({
      messages: [{ role: 'tool', content, tool_call_id: call.id, name }],
      done: false,
    });
    // The person's answer to this very call's interrupt, if this step follows a resume.
    const resume = (input.resume?.interrupt.payload as { tool_call_id?: unknown } | null)?.tool_call_id === call.id ? input.resume : undefined;
    if (resume?.interrupt.type === 'user_input') return result(resultText(resume.value));
    const tool = this.tools.get(name);
    if (!tool) {
      const known = [...this.tools.keys()].join(', ') || 'none';
      return result(`Error: there is no tool ${JSON.stringify(name)} (tools: ${known})`);
    }
    let raw: unknown;
    try {
      raw = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments);
    } catch (err) {
      return result(`Error: the arguments are not valid JSON: ${(err as Error).message}`);
    }
    const args = tool.parse(raw);
    if (!args.ok) return result(`Error: invalid arguments: ${args.error}`);
    if (input.config.confirm_tool_calls === true || (await tool.needsApproval(args.args))) {
      if (resume?.interrupt.type !== 'tool_approval') {
        return { messages: [], interrupt: { type: 'tool_approval', payload: { tool_call_id: call.id, name, arguments: raw } }, done: false };
      }
      // Only an explicit `{approved: true}` runs the call; anything else is a refusal.
      const answer = (resume.value ?? {}) as { approved?: unknown; reason?: unknown };
      if (answer.approved !== true) {
        const why = typeof answer.reason === 'string' && answer.reason ? `: ${answer.reason}` : '';
        return result(`Refused: the user did not approve this call${why}`);
      }
    }
    const ctx: ToolContext = {
      sessionId: input.sessionId,
      turnId: input.turnId,
      toolCallId: call.id,
      signal: input.signal,
      config: input.config,
      ...(input.userParams ? { userParams: input.userParams } : {}),
    };
    try {
      this.hooks.onToolRun?.(name, call.id);
      const value = await tool.execute(args.args, ctx);
      input.signal.throwIfAborted();
      return result(resultText(value));
    } catch (err) {
      if (input.signal.aborted) throw input.signal.reason;
      if (err instanceof UserInputRequest) {
        return { messages: [], interrupt: { type: 'user_input', payload: { ...err.payload, tool_call_id: call.id, name } }, done: false };
      }
      if (err instanceof AgentError) throw err;
      return result(`Error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async callModel(input: StepInput): Promise<ChatMessage> {
    if (!this.connection) {
      throw new AgentError(`agent ${this.name} has no model endpoint: set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)`);
    }
    this.client ??= new OpenAI({ apiKey: this.connection.apiKey, baseURL: this.connection.baseURL, maxRetries: 0 });
    const settings = { ...this.definition.model, ...pick(input.config, ['model', 'temperature', 'top_p', 'max_tokens']) };
    const system = typeof input.config.system === 'string' ? input.config.system : this.definition.system;
    const tools: ChatCompletionTool[] = [...this.tools.values()].map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.jsonSchema },
    }));
    const body: ChatCompletionCreateParamsNonStreaming = {
      model: (settings.model as string | undefined) ?? this.connection.model,
      messages: [...(system ? [{ role: 'system' as const, content: system }] : []), ...toOpenAIHistory(input.messages)],
      ...(tools.length ? { tools, parallel_tool_calls: true } : {}),
      ...pick(settings, ['temperature', 'top_p', 'max_tokens']),
    };
    return completeChat(this.client, body, input.signal, input.onDelta);
  }
}

/** A tool's result as a `tool` message's content: a string as it is, anything else as JSON; cut past 1 MiB. */
function resultText(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value === undefined) text = '';
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  if (text.length <= MAX_TOOL_RESULT_CHARS) return text;
  return `${text.slice(0, MAX_TOOL_RESULT_CHARS)}\n[truncated: the result had ${text.length} characters]`;
}

function pick(from: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

/**
 * The first tool call of the current turn's last assistant message that has no `tool`
 * message yet. The turn's tail is what follows its last user (or system) message.
 */
export function pendingCall(history: ChatMessage[]): ToolCall | null {
  const answered = new Set<string>();
  for (let i = history.length - 1; i >= 0; i--) {
    const m = history[i] as ChatMessage;
    if (m.role === 'tool') {
      if (m.tool_call_id) answered.add(m.tool_call_id);
      continue;
    }
    if (m.role !== 'assistant') return null;
    return m.tool_calls?.find((c) => !answered.has(c.id)) ?? null;
  }
  return null;
}

export function isToolAgent(value: unknown): value is ToolAgent {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}


