import { z } from 'zod';

/**
 * What a session's `config` may hold, per agent. The API checks a session's config against
 * its agent's schema at create (422 naming `body.config.<field>`); workers give the stored
 * config to every step (`StepInput.config`).
 */

/** The most steps a session may allow one turn. */
export const MAX_STEPS_LIMIT = 1000;

const maxSteps = z.int().min(1).max(MAX_STEPS_LIMIT).describe('The most steps one turn may take; past it the turn ends in error');

/** The model settings an LLM agent takes: the built-in `openai` agent and every `defineAgent` agent. */
export const modelSettingsShape = {
  model: z.string().min(1).max(256).optional(),
  system: z.string().max(100_000).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  max_tokens: z.int().min(1).max(1_000_000).optional(),
  max_steps: maxSteps.optional(),
  /** Every tool call waits for a person's approval, whatever the tool says (OpenHands "confirm every action"). */
  confirm_tool_calls: z.boolean().optional(),
};

/** `openai` and `defineAgent` agents without a `configSchema` of their own. */
export const ModelAgentConfig = z.strictObject(modelSettingsShape);

/** `echo`: the step limit and `confirm_tool_calls` (its test contract is read from each message's `user_params`). */
export const EchoAgentConfig = z.strictObject({ max_steps: maxSteps.optional(), confirm_tool_calls: modelSettingsShape.confirm_tool_calls });

/** `http`: anything, given to your agent as `config`; `max_steps` is Baton's. */
export const HttpAgentConfig = z.looseObject({ max_steps: maxSteps.optional() });

/** The config an agent accepts: model settings plus the agent's own fields (`configSchema`). */
export function modelAgentConfig(extra?: z.ZodObject): z.ZodType<Record<string, unknown>> {
  if (!extra) return ModelAgentConfig;
  return z.strictObject({ ...modelSettingsShape, ...extra.shape });
}
