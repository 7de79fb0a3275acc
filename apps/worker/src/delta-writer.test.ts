import { describe, expect, it } from 'vitest';
import { waitUntil } from '@baton/devtools';
import { DeltaWriter } from './delta-writer.ts';

/** A write whose completion the test controls. */
function controlledWrites() {
  const calls: { text: string; offset: number; done: (ok: boolean) => void }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const write = (text: string, offset: number) =>
    new Promise<boolean>((resolve) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      calls.push({
        text,
        offset,
        done: (ok) => {
          inFlight--;
          resolve(ok);
        },
      });
    });
  return { calls, write, maxInFlight: () => maxInFlight };
}

describe('DeltaWriter', () => {
  it('writes the first piece at once, batches the rest while a write is in flight, in order', async () => {
    const w = controlledWrites();
    const writer = new DeltaWriter(w.write, 0);
    writer.push('a😀');
    await waitUntil(() => w.calls.length === 1, { what: 'the first write' });
    writer.push('b');
    writer.push('c');
    writer.push('');
    const flushed = writer.flush();
    w.calls[0]!.done(true);
    await waitUntil(() => w.calls.length === 2, { what: 'the second write' });
    w.calls[1]!.done(true);
    await flushed;
    // Offsets count code points: the emoji is one.
    expect(w.calls.map((c) => [c.text, c.offset])).toEqual([
      ['a😀', 0],
      ['bc', 2],
    ]);
    expect(w.maxInFlight()).toBe(1);
  });

  it('waits intervalMs after a write before the next', async () => {
    const texts: string[] = [];
    const writer = new DeltaWriter(async (text) => (texts.push(text), true), 60_000);
    writer.push('x');
    await waitUntil(() => texts.length === 1, { what: 'the first write' });
    writer.push('y');
    writer.push('z');
    // Within the interval nothing more is written until a flush.
    await new Promise((resolve) => setImmediate(resolve));
    expect(texts).toEqual(['x']);
    await writer.close();
    expect(texts).toEqual(['x', 'yz']);
    writer.push('after close');
    await writer.flush();
    expect(texts).toEqual(['x', 'yz']);
  });

  it('stops writing once a write says the turn is no longer ours', async () => {
    const texts: string[] = [];
    const writer = new DeltaWriter(async (text) => (texts.push(text), false), 0);
    writer.push('one');
    await writer.flush();
    writer.push('two');
    await writer.flush();
    expect(texts).toEqual(['one']);
  });

  it('reports a failed write and goes on with the next', async () => {
    const errors: unknown[] = [];
    const texts: string[] = [];
    const offsets: number[] = [];
    let fail = true;
    const writer = new DeltaWriter(
      async (text, offset) => {
        if (fail) {
          fail = false;
          throw new Error('redis away');
        }
        texts.push(text);
        offsets.push(offset);
        return true;
      },
      0,
      (err) => errors.push(err),
    );
    writer.push('lost');
    await writer.flush();
    writer.push('kept');
    await writer.flush();
    expect(texts).toEqual(['kept']);
    expect(offsets).toEqual([4]); // after the lost piece
    expect(errors.map((e) => (e as Error).message)).toEqual(['redis away']);
  });
});
