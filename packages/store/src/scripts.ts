import { readFileSync } from 'node:fs';
import type { Redis, ChainableCommander } from 'ioredis';

type ScriptName = 'create' | 'submit' | 'claim' | 'finish' | 'read' | 'delete' | 'markRunning' | 'releaseCheck' | 'saveDelivery' | 'append' | 'pause' | 'cancel';

/** `inbox`: the script uses the inbox helpers of inbox.lua (prepended to it). */
const SCRIPTS: Record<ScriptName, { file: string; keys: number; inbox?: boolean }> = {
  create: { file: 'create.lua', keys: 2 },
  submit: { file: 'submit.lua', keys: 4 },
  claim: { file: 'claim.lua', keys: 2 },
  finish: { file: 'finish.lua', keys: 6, inbox: true },
  read: { file: 'read.lua', keys: 3 },
  delete: { file: 'delete.lua', keys: 7, inbox: true },
  markRunning: { file: 'mark-running.lua', keys: 1 },
  releaseCheck: { file: 'release-check.lua', keys: 1 },
  saveDelivery: { file: 'save-delivery.lua', keys: 2 },
  append: { file: 'append.lua', keys: 3 },
  pause: { file: 'pause.lua', keys: 4, inbox: true },
  cancel: { file: 'cancel.lua', keys: 1 },
};

type Arg = string | number;
export type ScriptCall = (keys: string[], args: Arg[]) => Promise<unknown>;

const sources = new Map<ScriptName, string>();
function source(name: ScriptName): string {
  let lua = sources.get(name);
  if (!lua) {
    const read = (file: string) => readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
    lua = (SCRIPTS[name].inbox ? `${read('inbox.lua')}\n` : '') + read(SCRIPTS[name].file);
    sources.set(name, lua);
  }
  return lua;
}

/**
 * Registers Baton's Lua scripts on a connection (ioredis sends EVALSHA and falls back
 * to EVAL on NOSCRIPT, so a restarted Redis needs nothing from us).
 */
export function defineScripts(redis: Redis): void {
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    const command = `baton_${name}`;
    if (!(command in redis)) {
      redis.defineCommand(command, { numberOfKeys: SCRIPTS[name].keys, lua: source(name) });
    }
  }
}

export function callScript(target: Redis | ChainableCommander, name: ScriptName, keys: string[], args: Arg[]): Promise<unknown> {
  // On a pipeline this queues the call and returns the pipeline; on a connection, a promise.
  const fn = (target as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[`baton_${name}`];
  if (!fn) throw new Error(`script ${name} is not defined on this connection`);
  return fn.call(target, ...keys, ...args);
}
