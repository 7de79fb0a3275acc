import { describe, expect, it } from 'vitest';
import { ReplyText } from './streaming.ts';

describe('ReplyText', () => {
  it('prints each delta once, even when a rerun turn streams again from 0', () => {
    const reply = new ReplyText();
    expect(reply.delta('echo:', 0)).toBe('echo:');
    expect(reply.delta(' hé', 5)).toBe(' hé');
    // The turn ran again: its deltas start over.
    expect(reply.delta('echo: h', 0)).toBe('');
    expect(reply.delta('é there', 7)).toBe(' there');
    expect(reply.rest('echo: hé there, friend')).toBe(', friend');
  });

  it('counts code points, not UTF-16 units', () => {
    const reply = new ReplyText();
    expect(reply.delta('🙂a', 0)).toBe('🙂a');
    expect(reply.delta('🙂ab', 0)).toBe('b');
    expect(reply.rest('🙂abc')).toBe('c');
  });
});
