import { once } from 'node:events';
import { type Socket, connect } from 'node:net';

/** One command as MONITOR shows it: who sent it (`lua` for a script's own) and its line. */
export interface MonitoredCommand {
  source: string;
  /** The command's name, lower-case. */
  name: string;
  /** The whole line: the arguments quoted and escaped as Redis shows them. */
  line: string;
}

/**
 * MONITOR on one Redis server over a plain socket, from the moment `start` resolves until
 * `stop()`: the commands whose line passes `keep` (a busy shared server shows many). (ioredis's `monitor()` can misread a line that arrives in the same packet as
 * MONITOR's `OK`, on a busy server.) Each line is a RESP simple string: Redis escapes the
 * arguments, so no line holds a line break.
 */
export class RedisMonitor {
  readonly commands: MonitoredCommand[] = [];
  private buffered = '';

  private constructor(
    private readonly socket: Socket,
    private readonly keep: (line: string) => boolean,
  ) {}

  static async start(host: string, port: number, keep: (line: string) => boolean = () => true): Promise<RedisMonitor> {
    const socket = connect(port, host);
    await once(socket, 'connect');
    const monitor = new RedisMonitor(socket, keep);
    const ok = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => monitor.read(chunk.toString('latin1'), resolve, reject));
    });
    socket.write('MONITOR\r\n');
    await ok;
    return monitor;
  }

  private read(text: string, ok: () => void, fail: (err: Error) => void): void {
    const lines = (this.buffered + text).split('\r\n');
    this.buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '+OK') ok();
      else if (line.startsWith('-')) fail(new Error(`MONITOR: ${line.slice(1)}`));
      else if (this.keep(line)) {
        // +<time> [<db> <source>] "<name>" "<arg>" …
        const match = /^\+\S+ \[\d+ (\S+)\] "([^"]*)"/.exec(line);
        if (match) this.commands.push({ source: match[1]!, name: match[2]!.toLowerCase(), line });
      }
    }
  }

  stop(): void {
    this.socket.destroy();
  }
}
