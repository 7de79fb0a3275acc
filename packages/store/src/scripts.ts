import { readFileSync } from 'node:fs';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connections.ts';

type ScriptName =
  | 'idempotencyHold'
  | 'create'
  | 'submit'
  | 'submitMarked'
  | 'claim'
  | 'step'
  | 'finish'
  | 'read'
  | 'delete'
  | 'markRunning'
  | 'releaseCheck'
  | 'settleRunning'
  | 'runningTurns'
  | 'saveDelivery'
  | 'append'
  | 'pause'
  | 'cancel'
  | 'resume'
  | 'interruptTimeout'
  | 'streamDelta'
  | 'streamRead'
  | 'setAttributes'
  | 'usageAdd'
  | 'expireCheck'
  | 'slotTake'
  | 'slotRelease'
  | 'breakerSave';

/**
 * `inbox`: the script uses the inbox helpers of inbox.lua (prepended to it); `stream`: the
 * event-stream helpers of stream.lua (prepended; inbox.lua uses them too); `running`: the
 * reaper-index helper of running.lua; `interrupted`: interrupted.lua, which ends a turn
 * waiting for a person (it uses the inbox and stream helpers: they come too); `expiry`: the
 * idle-expiry helper of expiry.lua (SESSION_TTL_S); `history`: the history helpers of
 * history.lua, through which every message enters a history (inbox.lua and interrupted.lua use
 * them: they come with those too).
 */
const SCRIPTS: Record<ScriptName, { file: string; keys: number | 'any'; inbox?: boolean; stream?: boolean; running?: boolean; interrupted?: boolean; expiry?: boolean; history?: boolean }> = {
  idempotencyHold: { file: 'idempotency-hold.lua', keys: 1 },
  create: { file: 'create.lua', keys: 10, expiry: true, history: true },
  submit: { file: 'submit.lua', keys: 10, running: true, interrupted: true, expiry: true },
  // The same script with the reaper's index as an eleventh key (one Redis server only).
  submitMarked: { file: 'submit.lua', keys: 11, running: true, interrupted: true, expiry: true },
  claim: { file: 'claim.lua', keys: 3 },
  step: { file: 'step.lua', keys: 6, stream: true, history: true },
  finish: { file: 'finish.lua', keys: 9, inbox: true, expiry: true },
  read: { file: 'read.lua', keys: 3 },
  delete: { file: 'delete.lua', keys: 14, inbox: true },
  markRunning: { file: 'mark-running.lua', keys: 1, running: true },
  releaseCheck: { file: 'release-check.lua', keys: 1 },
  // The session's keys and the reaper's index: one Redis server only.
  settleRunning: { file: 'settle-running.lua', keys: 3 },
  // As many sessions' keys as the reaper's batch holds: one Redis server only.
  runningTurns: { file: 'running-turns.lua', keys: 'any' },
  saveDelivery: { file: 'save-delivery.lua', keys: 4 },
  append: { file: 'append.lua', keys: 8, expiry: true, history: true },
  pause: { file: 'pause.lua', keys: 6, inbox: true },
  cancel: { file: 'cancel.lua', keys: 9, interrupted: true, expiry: true },
  resume: { file: 'resume.lua', keys: 3, stream: true },
  interruptTimeout: { file: 'interrupt-timeout.lua', keys: 9, interrupted: true, expiry: true },
  streamDelta: { file: 'stream-delta.lua', keys: 2, stream: true },
  streamRead: { file: 'stream-read.lua', keys: 2 },
  setAttributes: { file: 'set-attributes.lua', keys: 1 },
  usageAdd: { file: 'usage-add.lua', keys: 2 },
  expireCheck: { file: 'expire-check.lua', keys: 4 },
  slotTake: { file: 'slot-take.lua', keys: 2 },
  slotRelease: { file: 'slot-release.lua', keys: 2 },
  breakerSave: { file: 'breaker-save.lua', keys: 1 },
};

type Arg = string | number;
export type ScriptCall = (keys: string[], args: Arg[]) => Promise<unknown>;

const sources = new Map<ScriptName, string>();
function source(name: ScriptName): string {
  let lua = sources.get(name);
  if (!lua) {
    const read = (file: string) => readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
    const { stream, running, interrupted, expiry, file } = SCRIPTS[name];
    const inbox = SCRIPTS[name].inbox || interrupted;
    const history = SCRIPTS[name].history || inbox;
    lua =
      (running ? `${read('running.lua')}\n` : '') +
      (history ? `${read('history.lua')}\n` : '') +
      (inbox || stream ? `${read('stream.lua')}\n` : '') +
      (inbox ? `${read('inbox.lua')}\n` : '') +
      (interrupted ? `${read('interrupted.lua')}\n` : '') +
      (expiry ? `${read('expiry.lua')}\n` : '') +
      read(file);
    sources.set(name, lua);
  }
  return lua;
}

/**
 * Registers Baton's Lua scripts on a connection (ioredis sends EVALSHA and falls back
 * to EVAL on NOSCRIPT, so a restarted Redis needs nothing from us).
 */
export function defineScripts(redis: RedisClient): void {
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    const command = `baton_${name}`;
    if (!(command in redis)) {
      const keys = SCRIPTS[name].keys;
      // Without numberOfKeys, ioredis takes the key count as the first argument (see callScript).
      redis.defineCommand(command, { ...(keys === 'any' ? {} : { numberOfKeys: keys }), lua: source(name) });
    }
  }
}

export function callScript(target: RedisClient | ChainableCommander, name: ScriptName, keys: string[], args: Arg[]): Promise<unknown> {
  // On a pipeline this queues the call and returns the pipeline; on a connection, a promise.
  const fn = (target as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[`baton_${name}`];
  if (!fn) throw new Error(`script ${name} is not defined on this connection`);
  return SCRIPTS[name].keys === 'any' ? fn.call(target, keys.length, ...keys, ...args) : fn.call(target, ...keys, ...args);
}
