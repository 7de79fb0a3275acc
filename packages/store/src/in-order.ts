import type { RedisClient } from './connections.ts';

/**
 * Runs Redis calls in the order given. On one server they are sent back to back and
 * Redis runs them in that order (one round trip, no pipeline object: ioredis copies
 * every defined script onto each pipeline, which costs more than the commands). On a
 * cluster they may go to different nodes, so each waits for the one before.
 */
export async function inOrder(redis: RedisClient, calls: (() => Promise<unknown>)[]): Promise<unknown[]> {
  if ((redis as { isCluster?: boolean }).isCluster) {
    const out: unknown[] = [];
    for (const call of calls) out.push(await call());
    return out;
  }
  // Separate calls, not a pipeline: ioredis pipelines cost the API far more CPU (measured with
  // `BENCH_PHASES=a npm run bench`); written back to back, they still share one round trip.
  return Promise.all(calls.map((call) => call()));
}
