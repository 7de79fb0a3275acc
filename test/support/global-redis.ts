import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { RedisServer } from '@baton/devtools';

/** One private redis-server per test run, on a free port; files isolate by key prefix. */
export default async function setup(project: TestProject) {
  const server = await RedisServer.start();
  project.provide('redisUrl', server.url);
  return async () => {
    await server.dispose();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
