import type { AgentCatalog } from '@baton/agents';
import type { FieldIssue } from '@baton/core';
import { issuesOf } from './http/validate.ts';

/**
 * Checks a session's `config` against what its agent accepts (`SessionService`'s
 * `checkConfig`): the parsed config, or issues naming `body.config.<field>`.
 */
export function makeConfigCheck(catalog: AgentCatalog) {
  return (agent: string, config: Record<string, unknown>): { ok: true; config: Record<string, unknown> } | { ok: false; issues: FieldIssue[] } => {
    const parsed = catalog.configSchema(agent).safeParse(config);
    return parsed.success ? { ok: true, config: parsed.data } : { ok: false, issues: issuesOf(parsed.error, 'body.config') };
  };
}
