import { once } from 'node:events';
import WebSocket from 'ws';
import { waitUntil } from '@baton/devtools';

/**
 * A raw WebSocket client for tests: keeps every frame it gets (parsed JSON) and how the
 * socket closed, so a test waits on what arrived rather than on time.
 */
export class WsProbe {
  readonly frames: any[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Set when the server answered the upgrade with a plain HTTP status instead. */
  refusedWith: number | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(data.toString())));
    ws.on('error', () => {});
    ws.on('unexpected-response', (_req, res) => {
      this.refusedWith = res.statusCode ?? 0;
      res.resume();
      ws.terminate();
    });
    // Not `once(ws, 'close')`: that rejects on the 'error' a refused upgrade emits first.
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens `ws://…/sockets/events/{id}{query}` on `base` (an http:// URL). */
  static open(base: string, id: string, query = '', headers: Record<string, string> = {}): WsProbe {
    const url = `${base.replace(/^http/, 'ws')}/sockets/events/${id}${query}`;
    return new WsProbe(new WebSocket(url, { headers }));
  }

  async opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return;
    await once(this.ws, 'open');
  }

  /** True once the first frame arrives, false if the socket closes (or is refused) first. */
  started(): Promise<boolean> {
    if (this.frames.length) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.ws.once('message', () => resolve(true));
      void this.closed.then(() => resolve(this.frames.length > 0));
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Events (not state updates) received so far. */
  get events(): any[] {
    return this.frames.filter((f) => f.kind !== 'ConversationStateUpdateEvent');
  }

  /** The `execution_status` updates received so far, in order. */
  get statuses(): string[] {
    return this.frames.filter((f) => f.kind === 'ConversationStateUpdateEvent' && f.key === 'execution_status').map((f) => f.value);
  }

  /** Waits until a frame matching `match` has arrived (counting those already in) and returns it. */
  waitFor(match: (frame: any) => boolean, what = 'a frame', timeoutMs = 15_000): Promise<any> {
    return waitUntil(() => this.frames.find(match), { timeoutMs, what: `${what} (got ${this.frames.length} frames)` });
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}

/** The text of a MessageEvent's first text part. */
export function eventText(event: any): string | undefined {
  return event?.llm_message?.content?.find((c: any) => c.type === 'text')?.text;
}
