/**
 * `npm start`: one API process and one worker for local use. Uses REDIS_URL when set;
 * otherwise starts a private redis-server found on PATH, with its data (AOF) in
 * `$BATON_DATA_DIR/redis` (default `.data/redis`). Ctrl-C stops everything.
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
    redis = await RedisServer.start({ port, dir, appendonly: true, appendfsync: start.REDIS_APPENDFSYNC });
    redisUrl = redis.url;
    console.log(`baton: started redis-server on ${redisUrl} (data in ${dir}, appendfsync ${start.REDIS_APPENDFSYNC})`);
  }
  const env = { ...process.env, REDIS_URL: redisUrl };
  for (const [name, entry] of [
    ['api', 'apps/api/src/main.ts'],
    ['worker', 'apps/worker/src/main.ts'],
  ] as const) {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env, stdio: 'inherit' });
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
  await redis?.stop();
  console.log(code === 0 ? 'baton: stopped' : 'baton: stopped after a failure');
  process.exit(code);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

main().catch(async (err) => {
  console.error(`baton: ${(err as Error).message}`);
  await stop(1);
});
