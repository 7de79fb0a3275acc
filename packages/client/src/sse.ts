/**
 * A server-sent events parser, per the WHATWG HTML "event stream" rules: lines end in
 * CRLF, LF or CR (also across chunk boundaries); `:` starts a comment; `data` lines are
 * joined with LF; a blank line dispatches; an event without data is not dispatched; the
 * last `id` persists until another `id` replaces it; `retry` takes digits only.
 * Feed it decoded text as it arrives; it returns the events each chunk completes.
 */
export interface SseEvent {
  /** The last event id seen so far on this stream (`null` before the first `id:`). */
  id: string | null;
  /** `message` when the event has no `event:` field. */
  event: string;
  data: string;
}

export class SseParser {
  /** The last event id (what a reconnect sends as `Last-Event-ID`). */
  lastEventId: string | null = null;
  /** The reconnection delay the server asked for with `retry:`, in milliseconds. */
  retry: number | null = null;

  private buffer = '';
  private skipLf = false;
  private started = false;
  private data: string[] = [];
  private event = '';

  constructor(lastEventId: string | null = null) {
    this.lastEventId = lastEventId;
  }

  /** Parses one more chunk of text; returns the events it completed, in order. */
  push(chunk: string): SseEvent[] {
    let text = chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLf && text.startsWith('\n')) text = text.slice(1);
    this.skipLf = false;
    this.buffer += text;

    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      const line = this.buffer.slice(start, i);
      if (ch === '\r') {
        if (i + 1 === this.buffer.length) this.skipLf = true; // a LF may open the next chunk
        else if (this.buffer[i + 1] === '\n') i++;
      }
      start = i + 1;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /**
   * The stream ended. An event not closed by a blank line is discarded, as the spec says
   * (the connection may have dropped in the middle of it).
   */
  end(): void {
    this.buffer = '';
    this.data = [];
    this.event = '';
    this.skipLf = false;
  }

  private line(line: string): SseEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      // Other fields are ignored.
    }
    return null;
  }

  private dispatch(): SseEvent | null {
    const data = this.data;
    const event = this.event;
    this.data = [];
    this.event = '';
    if (data.length === 0) return null;
    return { id: this.lastEventId, event: event || 'message', data: data.join('\n') };
  }
}
