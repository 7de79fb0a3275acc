import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './connections.ts';

/**
 * Sends the commands a connection is given during one turn of the event loop in one
 * socket write, rather than one write each.
 *
 * Each write to a socket is a system call, and on a busy API process those calls were
 * its largest single cost: under load, many requests issue their commands in the same
 * turn (the HTTP bodies and Redis replies of that turn's I/O), and with this they share
 * one write. The socket is corked on the turn's first command and uncorked at the end of
 * the turn (`setImmediate`), so no command waits longer than the rest of the current turn.
 * Measured with `BENCH_PHASES=a npm run bench` (see README, Performance).
 *
 * Replies, ordering, retries and reconnects are ioredis's as before: only the moment
 * bytes leave the process changes. On a cluster it applies to each node's connection.
 */
export function coalesceWrites(client: RedisClient): void {
  if (client instanceof Cluster) {
    for (const node of client.nodes()) coalesceWrites(node);
    client.on('+node', (node: Redis) => coalesceWrites(node));
    return;
  }
  const redis = client;
  if ((redis as { coalesced?: boolean }).coalesced) return;
  (redis as { coalesced?: boolean }).coalesced = true;
  const send = redis.sendCommand.bind(redis);
  let corked = false;
  redis.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    const socket = redis.stream;
    if (!corked && redis.status === 'ready' && socket?.writable) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    return send(...args);
  }) as Redis['sendCommand'];
}
