import { access } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AGENT_NAMES, ConfigError } from '@baton/core';
import { isToolAgent, type ToolAgent } from './define-agent.ts';

/**
 * Loads `AGENTS_MODULE`: a TypeScript (run by tsx) or JavaScript module whose default export
 * is an array of agents built with `defineAgent`. `path` is relative to `cwd` (the process's
 * working directory) unless absolute. Throws a ConfigError that says what is wrong: a missing
 * file, a module that fails to load, a default export that is not such an array, a name used
 * twice or one of a built-in agent.
 *
 * The API loads it too, only to know the names and check sessions' `config`; tools run on
 * workers. Keep the module's top level free of side effects.
 */
export async function loadAgentsModule(path: string, cwd = process.cwd()): Promise<ToolAgent[]> {
  const file = isAbsolute(path) ? path : resolve(cwd, path);
  const fail = (why: string, cause?: unknown) =>
    new ConfigError(`Invalid configuration:\n  AGENTS_MODULE: ${path}: ${why}`, cause === undefined ? undefined : { cause });
  try {
    await access(file);
  } catch {
    throw fail(`no such file (looked for ${file})`);
  }
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw fail(`the module failed to load: ${(err as Error).message}`, err);
  }
  const agents = loaded.default;
  if (!Array.isArray(agents)) throw fail('its default export must be an array of agents built with defineAgent (export default [myAgent])');
  const names = new Set<string>();
  agents.forEach((agent: unknown, i) => {
    if (!isToolAgent(agent)) throw fail(`default export [${i}] is not an agent built with defineAgent`);
    if ((AGENT_NAMES as readonly string[]).includes(agent.name)) {
      throw fail(`agent ${JSON.stringify(agent.name)} has the name of a built-in agent (${AGENT_NAMES.join(', ')}); rename it`);
    }
    if (names.has(agent.name)) throw fail(`two agents are named ${JSON.stringify(agent.name)}`);
    names.add(agent.name);
  });
  return agents as ToolAgent[];
}
