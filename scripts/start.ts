/**
 * `npm start`: one API process and one worker for local use. Uses REDIS_URL when set;
 * otherwise starts a private redis-server found on PATH, with its data (AOF) in
 * `$BATON_DATA_DIR/redis` (default `.data/redis`). Ctrl-C stops everything, gracefully.
 *
 * Signals: a terminal's Ctrl-C goes to its whole foreground process group, and npm and tsx
 * pass it on again. So the processes this script starts run in process groups of their own
 * and hear only from it: one SIGTERM each, however many signals arrive here. A worker that
 * got a second signal would exit at once instead of handing its turns back to the queue,
 * and a Redis stopped by the Ctrl-C itself would leave it nowhere to hand them back to. The
 * API and the worker also stop when this script's IPC channel to them closes, so they do
 * not outlive it if it is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { ConfigError, StartEnv, parseEnv } from '@baton/core';
import { REDIS_INSTALL_HINT, ROOT, RedisServer, findRedisServer, freePort } from '@baton/devtools';

const children: ChildProcess[] = [];
let redis: RedisServer | null = null;
let stopping = false;

function startEnv(): StartEnv {
  try {
    return parseEnv(StartEnv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`baton: ${err.message}`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    if (!findRedisServer()) {
      console.error(`baton: no REDIS_URL is set and no redis-server was found on PATH.\n${REDIS_INSTALL_HINT}`);
      process.exit(1);
    }
    const start = startEnv();
    const dir = resolve(start.BATON_DATA_DIR ?? join(ROOT, '.data'), 'redis');
    const port = start.REDIS_PORT ?? (await freePort());
    redis = await RedisServer.start({ port, dir, appendonly: true, appendfsync: start.REDIS_APPENDFSYNC, detached: true });
    redisUrl = redis.url;
    console.log(`baton: started redis-server on ${redisUrl} (data in ${dir}, appendfsync ${start.REDIS_APPENDFSYNC}, pid ${redis.pid})`);
  }
  const env = { ...process.env, REDIS_URL: redisUrl };
  for (const [name, entry] of [
    ['api', 'apps/api/src/main.ts'],
    ['worker', 'apps/worker/src/main.ts'],
  ] as const) {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
    });
    // The IPC channel only tells the child when this script is gone; what tsx sends on it is not needed.
    child.on('message', () => {});
    child.on('exit', (code, signal) => {
      if (!stopping) {
        console.error(`baton: the ${name} process exited (${signal ?? code}); stopping`);
        void stop(1);
      }
    });
    children.push(child);
  }
}

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('baton: stopping (running turns get SHUTDOWN_TIMEOUT_MS to finish, then go back to the queue)');
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
        }),
    ),
  );
  // Last: the worker hands its turns back through it.
  await redis?.stop();
  console.log(code === 0 ? 'baton: stopped' : 'baton: stopped after a failure');
  process.exit(code);
}

// However this script ends, the Redis it started (in a process group of its own) goes with it.
process.on('exit', () => {
  if (redis?.pid !== undefined) {
    try {
      process.kill(redis.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
});
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

main().catch(async (err) => {
  console.error(`baton: ${(err as Error).message}`);
  await stop(1);
});
