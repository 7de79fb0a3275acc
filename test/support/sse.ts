/** One Server-Sent Event; `data` parsed as JSON. `id` is undefined when the event had none. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  data: any;
}

/**
 * A minimal Server-Sent Events client over fetch's streaming body: reads events one at a
 * time, keeps comment lines (heartbeats) apart, and says when the server ended the stream.
 */
export class SseClient {
  readonly comments: string[] = [];
  private readonly queue: SseEvent[] = [];
  private buffer = '';
  private ended = false;
  private wake: (() => void) | null = null;

  private constructor(
    readonly status: number,
    readonly headers: Headers,
    /** The body, when the answer is not an event stream (an error). */
    readonly body: any,
    private readonly controller: AbortController,
    reader: ReadableStreamDefaultReader<Uint8Array> | null,
  ) {
    if (reader) void this.pump(reader);
    else this.ended = true;
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep text
      }
      return new SseClient(res.status, res.headers, body, controller, null);
    }
    return new SseClient(res.status, res.headers, undefined, controller, res.body!.getReader());
  }

  /** The next event, or null once the server ended the stream. Throws after `timeoutMs`. */
  async next(timeoutMs = 15_000): Promise<SseEvent | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = this.queue.shift();
      if (event) return event;
      if (this.ended) return null;
      await this.waitForData(deadline, 'the next event');
    }
  }

  /** Events up to and including the first that matches `done`. */
  async until(done: (e: SseEvent) => boolean, timeoutMs = 15_000): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for (;;) {
      const event = await this.next(timeoutMs);
      if (!event) throw new Error(`stream ended before the awaited event; got ${JSON.stringify(out)}`);
      out.push(event);
      if (done(event)) return out;
    }
  }

  /** Waits for a comment line (a heartbeat). */
  async comment(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.comments.length === 0) {
      if (this.ended) throw new Error('stream ended without a comment');
      await this.waitForData(deadline, 'a comment');
    }
    return this.comments.shift() as string;
  }

  close(): void {
    this.controller.abort();
  }

  private waitForData(deadline: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = null;
        reject(new Error(`timed out waiting for ${what}`));
      }, Math.max(0, deadline - Date.now()));
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  private async pump(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let end: number;
        while ((end = this.buffer.indexOf('\n\n')) !== -1) {
          this.parse(this.buffer.slice(0, end));
          this.buffer = this.buffer.slice(end + 2);
        }
        this.wake?.();
      }
    } catch {
      // aborted by close(), or the connection dropped
    }
    this.ended = true;
    this.wake?.();
  }

  private parse(block: string): void {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    let fields = 0;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      fields++;
      if (name === 'id') id = value;
      else if (name === 'event') event = value;
      else if (name === 'data') data.push(value);
    }
    if (fields === 0) return;
    const text = data.join('\n');
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep text
    }
    this.queue.push({ id, event, data: parsed });
  }
}
