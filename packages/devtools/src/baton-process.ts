import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.ts';
import { waitUntil } from './wait-until.ts';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const ENTRY = { api: 'apps/api/src/main.ts', worker: 'apps/worker/src/main.ts' } as const;

export type ProcessKind = keyof typeof ENTRY;

/**
 * A real Baton API or worker process, spawned with `node --import tsx`. Its output
 * is kept so tests can wait for a log line rather than sleep.
 */
export class BatonProcess {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly kind: ProcessKind,
    readonly child: ChildProcess,
    readonly port: number | null,
  ) {
    child.stdout?.on('data', (d) => (this.output += d));
    child.stderr?.on('data', (d) => (this.output += d));
    // 'close' rather than 'exit': by then the output has all been read, so a test can check it.
    this.exited = once(child, 'close').then(([code, signal]) => ({ code, signal }));
  }

  static async start(kind: ProcessKind, env: Record<string, string>): Promise<BatonProcess> {
    const port = kind === 'api' ? Number(env.PORT ?? 0) || (await freePort()) : null;
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY[kind]], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        LOG_LEVEL: 'debug',
        HOST: '127.0.0.1',
        ...env,
        ...(port ? { PORT: String(port) } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new BatonProcess(kind, child, port);
    const ready = kind === 'api' ? /Baton API listening/ : /Baton worker ready/;
    await Promise.race([
      proc.waitForLog(ready, 60_000),
      proc.exited.then(({ code }) => {
        throw new Error(`${kind} exited with ${code} before it was ready:\n${proc.output}`);
      }),
    ]);
    return proc;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once a line matching `pattern` has been printed (counting earlier ones, past `from`). */
  async waitForLog(pattern: RegExp, timeoutMs = 10_000, from = 0): Promise<void> {
    try {
      await waitUntil(() => pattern.test(this.output.slice(from)), { timeoutMs, what: `${this.kind} log ${pattern}` });
    } catch (err) {
      // Say what the process did print: the reason it never got there is usually in it.
      const tail = this.output.split('\n').slice(-15).join('\n');
      throw new Error(`${(err as Error).message}\nlast lines of ${this.kind} (pid ${this.child.pid}):\n${tail}`);
    }
  }

  /** How many lines so far match `pattern`. */
  count(pattern: RegExp): number {
    return this.output.split('\n').filter((line) => pattern.test(line)).length;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.alive) this.child.kill(signal);
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
