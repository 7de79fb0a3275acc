import type { ChatMessage } from '@baton/core';

export interface TurnInput {
  sessionId: string;
  turnId: string;
  /** The whole history, oldest first; the last message is the one that started the turn. */
  messages: ChatMessage[];
  /** Aborted on cancel, on the turn's time limit and on worker shutdown. */
  signal: AbortSignal;
  /**
   * Told each piece of the reply's text as it is produced, when the agent streams (the
   * reply `run` resolves with stays the whole message). Agents that don't stream ignore it.
   */
  onDelta?: (text: string) => void;
}

/** One step of an agent: read the history, answer with one assistant message. */
export interface Agent {
  readonly name: string;
  run(input: TurnInput): Promise<ChatMessage>;
}

/** An agent's failure, with a message fit to show the user as the session's `error`. */
export class AgentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
  }
}

/** What an agent asks a person for: the turn stops until `POST /sessions/{id}/resume`. */
export interface InterruptRequest {
  type: 'tool_approval' | 'user_input';
  payload: unknown;
}

/** A recorded interrupt, as `GET /sessions/{id}` shows it. */
export interface Interrupt extends InterruptRequest {
  interrupt_id: string;
}

/** The input of one step of a turn (issue "Agents that do real work"). */
export interface StepInput {
  sessionId: string;
  turnId: string;
  /**
   * The history so far, oldest first: everything before the turn, the turn's user message,
   * and every message this turn's earlier steps recorded (also those recorded by a worker
   * that died: a step whose messages are recorded never runs again).
   */
  messages: ChatMessage[];
  /** Aborted on cancel, on the turn's time limit and on worker shutdown. */
  signal: AbortSignal;
  /** Told each piece of the step's reply text as it is produced, when the agent streams. */
  onDelta?: (text: string) => void;
  /** The session's agent settings (`config` at create, validated against the agent's schema). */
  config: Record<string, unknown>;
  /** The `user_params` of the message that started the turn, if any. */
  userParams?: Record<string, unknown>;
  /** Set on the first step after a resume: the interrupt the turn stopped at and the person's answer. */
  resume?: { interrupt: Interrupt; value: unknown };
  /** How many steps of this turn ran before this one (recorded ones, across workers). */
  stepIndex: number;
  /**
   * Index in `messages` where this turn's step messages begin: `messages[turnStart - 1]` is the
   * message that started the turn (or, for a turn started without one, the last message before it).
   */
  turnStart: number;
}

/** What one step produced. */
export interface StepResult {
  /** Recorded in order, together, by one fenced script, before the next step starts. */
  messages: ChatMessage[];
  /** The turn stops for a person (after `messages` are recorded). */
  interrupt?: InterruptRequest;
  /** The turn is over: its last message is the reply. */
  done: boolean;
}

/**
 * An agent that runs a turn as a loop of steps. The worker calls `step` until it answers
 * `done` or an interrupt, recording each step's messages as they come.
 */
export interface StepAgent {
  readonly name: string;
  /** The most steps one turn may take when the session's `config.max_steps` sets none (see `maxStepsOf`). */
  readonly maxSteps?: number;
  step(input: StepInput): Promise<StepResult>;
}

/**
 * How many steps a turn of `agent` may take with the session's `config`: `config.max_steps`
 * (validated at create), else the agent's own `maxSteps`, else `serverDefault` (the worker's
 * setting). The runner enforces it: past it the turn ends `error`.
 */
export function maxStepsOf(agent: StepAgent, config: Record<string, unknown>, serverDefault: number): number {
  const fromConfig = config.max_steps;
  if (typeof fromConfig === 'number' && Number.isInteger(fromConfig) && fromConfig > 0) return fromConfig;
  return agent.maxSteps ?? serverDefault;
}

/**
 * The runner's view of any agent: a step agent as it is, a one-call agent (`run`: read the
 * history, answer one assistant message) as a step agent whose one step is the whole turn.
 */
export function asStepAgent(agent: Agent | StepAgent): StepAgent {
  if ('step' in agent && typeof agent.step === 'function') return agent;
  const single = agent as Agent;
  return {
    name: single.name,
    async step({ sessionId, turnId, messages, signal, onDelta }) {
      const reply = await single.run({ sessionId, turnId, messages, signal, ...(onDelta ? { onDelta } : {}) });
      return { messages: [reply], done: true };
    },
  };
}
