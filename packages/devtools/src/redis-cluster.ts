import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { RedisServer } from './redis-server.ts';
import { waitUntil } from './wait-until.ts';

const run = promisify(execFile);

export const REDIS_CLI_HINT =
  'A Redis Cluster for tests needs redis-cli (7.x) on PATH: `sudo apt-get install redis-tools` (Debian/Ubuntu) or `brew install redis` (macOS).';

/** Path of `redis-cli` on PATH, or null. */
export function findRedisCli(path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'redis-cli');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

export interface RedisClusterOptions {
  /** Master nodes (no replicas); at least 3, as `redis-cli --cluster create` requires. */
  masters?: number;
}

/**
 * A private Redis Cluster on 127.0.0.1 for tests: `masters` redis-servers in cluster
 * mode on free ports (never 6379), each with a temporary folder, joined by
 * `redis-cli --cluster create` with the 16384 slots split evenly between them.
 */
export class RedisCluster {
  private constructor(readonly servers: RedisServer[]) {}

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    if (masters < 3) throw new Error('a Redis Cluster needs at least 3 masters');
    const cli = findRedisCli();
    if (!cli) throw new Error(REDIS_CLI_HINT);
    const servers: RedisServer[] = [];
    const cluster = new RedisCluster(servers);
    try {
      for (let i = 0; i < masters; i++) {
        // The bus port is set too: port + 10000 may be taken, or past 65535.
        const busPort = await freePort();
        servers.push(
          await RedisServer.start({
            args: [
              '--cluster-enabled', 'yes',
              '--cluster-config-file', 'nodes.conf',
              '--cluster-port', String(busPort),
              '--cluster-node-timeout', '5000',
            ],
          }),
        );
      }
      await run(cli, ['--cluster', 'create', ...cluster.addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
      await Promise.all(
        servers.map((server) =>
          waitUntil(() => clusterOk(server.port), { timeoutMs: 20_000, intervalMs: 50, what: `cluster_state:ok on port ${server.port}` }),
        ),
      );
      return cluster;
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
  }

  /** `host:port` of each master. */
  get addresses(): string[] {
    return this.servers.map((s) => `127.0.0.1:${s.port}`);
  }

  /** The masters, comma-separated: `127.0.0.1:p1,127.0.0.1:p2,…`. */
  get nodes(): string {
    return this.addresses.join(',');
  }

  /** The URL Baton takes in `REDIS_URL` for this cluster. */
  get url(): string {
    return `redis+cluster://${this.nodes}`;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.dispose()));
  }
}

async function clusterOk(port: number): Promise<boolean> {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = (await client.call('CLUSTER', 'INFO')) as string;
    return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info);
  } finally {
    client.disconnect();
  }
}
