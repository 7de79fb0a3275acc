import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { waitUntil } from './wait-until.ts';

export const REDIS_INSTALL_HINT =
  'Baton needs redis-server (7.x) on PATH, or REDIS_URL pointing at a running Redis. ' +
  'Install it with `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS).';

/** Path of `redis-server` on PATH, or null. */
export function findRedisServer(path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'redis-server');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

export interface RedisServerOptions {
  port?: number;
  /** Data folder; a temporary one (removed on stop) when omitted. */
  dir?: string;
  appendonly?: boolean;
  /** `appendfsync` (default `everysec`): `always` fsyncs the AOF before each write is answered. */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Extra `--flag value` pairs for redis-server. */
  args?: string[];
  /**
   * In a process group of its own (`npm start`): a terminal's Ctrl-C, sent to the whole
   * foreground group, then does not stop it before the processes using it have stopped.
   */
  detached?: boolean;
}

/** A private redis-server on 127.0.0.1, never the machine's shared one. */
export class RedisServer {
  private child: ChildProcess | null = null;
  private readonly ownsDir: boolean;
  readonly dir: string;

  private constructor(
    readonly bin: string,
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {
    this.ownsDir = !options.dir;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'baton-redis-'));
    mkdirSync(this.dir, { recursive: true });
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const bin = findRedisServer();
    if (!bin) throw new Error(REDIS_INSTALL_HINT);
    const server = new RedisServer(bin, options.port ?? (await freePort()), options);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the server (again, after `stop` or `kill`), on the same port and data. */
  async launch(): Promise<void> {
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', this.options.appendonly ? 'yes' : 'no',
      '--appendfsync', this.options.appendfsync ?? 'everysec',
      '--maxmemory-policy', 'noeviction',
      '--daemonize', 'no',
      '--logfile', '',
      ...(this.options.args ?? []),
    ];
    const child = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: this.options.detached ?? false });
    this.child = child;
    let output = '';
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output.slice(-500)}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitUntil(() => this.ping(), { timeoutMs: 10_000, what: `redis-server on port ${this.port}` }), exited]);
  }

  private async ping(): Promise<boolean> {
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }

  /** Stops the server; with AOF on, what was written survives a `launch()`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
    this.child = null;
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
