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
