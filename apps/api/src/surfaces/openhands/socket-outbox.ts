import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { WebSocket } from 'ws';

/**
 * Frames the server sends. Above `maxBuffered` bytes waiting to go out, sending waits
 * until they are taken (so nothing more is read from Redis meanwhile); a client that takes
 * nothing for `stallMs` is cut off. What a socket holds stays bounded either way.
 */
export class Outbox {
  private flushed: Promise<void> = Promise.resolve();

  constructor(
    private readonly ws: WebSocket,
    private readonly maxBuffered: number,
    private readonly stallMs: number,
    private readonly logger: Logger,
  ) {}

  async send(frames: readonly unknown[]): Promise<boolean> {
    for (const frame of frames) {
      if (this.ws.readyState !== WebSocket.OPEN) return false;
      if (this.ws.bufferedAmount > this.maxBuffered && !(await this.drained())) {
        this.logger.debug({ buffered: this.ws.bufferedAmount }, 'event socket closed: the client stopped reading');
        this.ws.terminate();
        return false;
      }
      this.write(frame);
    }
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** A ServerErrorEvent, as the agent server sends for a frame it could not handle. */
  error(code: string, detail: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.write({ kind: 'ServerErrorEvent', id: randomUUID(), timestamp: new Date().toISOString(), source: 'environment', code, detail });
  }

  private write(frame: unknown): void {
    this.flushed = new Promise((resolve) => this.ws.send(JSON.stringify(frame), () => resolve()));
  }

  /** True once everything sent so far left the process, false after `stallMs` without that. */
  private drained(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), this.stallMs);
      void this.flushed.then(() => {
        clearTimeout(timer);
        resolve(this.ws.readyState === WebSocket.OPEN);
      });
    });
  }
}
