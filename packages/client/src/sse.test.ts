import { describe, expect, it } from 'vitest';
import { SseParser } from './sse.ts';

/** Feeds `chunks` one by one and collects every event. */
function parse(chunks: string[], parser = new SseParser()) {
  return chunks.flatMap((chunk) => parser.push(chunk));
}

describe('SseParser', () => {
  it('parses id, event and JSON data, one event per blank line', () => {
    const events = parse(['id: 1-0\nevent: status\ndata: {"status":"running"}\n\nid: 1-1\nevent: delta\ndata: {"text":"he"}\n\n']);
    expect(events).toEqual([
      { id: '1-0', event: 'status', data: '{"status":"running"}' },
      { id: '1-1', event: 'delta', data: '{"text":"he"}' },
    ]);
  });

  it('completes events split anywhere across chunks, including inside a field name', () => {
    const text = 'id: 7-0\nevent: message\ndata: {"a":1}\n\n';
    for (let cut = 1; cut < text.length; cut++) {
      expect(parse([text.slice(0, cut), text.slice(cut)]), `cut at ${cut}`).toEqual([{ id: '7-0', event: 'message', data: '{"a":1}' }]);
    }
  });

  it('accepts CRLF, LF and CR line ends, with a CRLF split between two chunks', () => {
    expect(parse(['data: a\r\n\r\ndata: b\r\rdata: c\n\n'])).toEqual([
      { id: null, event: 'message', data: 'a' },
      { id: null, event: 'message', data: 'b' },
      { id: null, event: 'message', data: 'c' },
    ]);
    // "\r" ends one chunk and "\n" opens the next: one line end, not a blank line.
    expect(parse(['data: x\r', '\ndata: y\r', '\n\r\n'])).toEqual([{ id: null, event: 'message', data: 'x\ny' }]);
  });

  it('joins several data lines with LF and strips only one leading space', () => {
    expect(parse(['data:  two\ndata:one\ndata\n\n'])).toEqual([{ id: null, event: 'message', data: ' two\none\n' }]);
  });

  it('ignores comments and unknown fields, and does not dispatch an event without data', () => {
    const parser = new SseParser();
    expect(parse([': heartbeat\n\nfoo: bar\nevent: status\n\n'], parser)).toEqual([]);
    // The event type of a data-less event is dropped with it.
    expect(parse(['data: z\n\n'], parser)).toEqual([{ id: null, event: 'message', data: 'z' }]);
  });

  it('keeps the last id for later events and as lastEventId; an id with NUL is ignored', () => {
    const parser = new SseParser('0-1');
    const events = parse(['data: a\n\nid: 5-0\ndata: b\n\ndata: c\n\nid: bad\0id\ndata: d\n\n'], parser);
    expect(events.map((e) => e.id)).toEqual(['0-1', '5-0', '5-0', '5-0']);
    expect(parser.lastEventId).toBe('5-0');
    // An id line with no data still moves lastEventId (what a reconnect resumes after).
    parse(['id: 6-0\n\n'], parser);
    expect(parser.lastEventId).toBe('6-0');
  });

  it('takes retry only when it is all digits', () => {
    const parser = new SseParser();
    parse(['retry: 2500\n\n'], parser);
    expect(parser.retry).toBe(2500);
    parse(['retry: 1s\n\n'], parser);
    expect(parser.retry).toBe(2500);
  });

  it('drops a leading byte-order mark and an unfinished event at the end', () => {
    const parser = new SseParser();
    expect(parse(['\ufeffdata: first\n\ndata: half'], parser)).toEqual([{ id: null, event: 'message', data: 'first' }]);
    parser.end();
    expect(parse(['\n\n'], parser)).toEqual([]);
  });
});
