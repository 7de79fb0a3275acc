import { describe, expect, it } from 'vitest';
import { grow } from './draft.ts';

describe('grow (the streaming reply)', () => {
  it('appends each delta at its offset, counting code points', () => {
    let draft = grow(null, 't1', 'echo:', 0);
    draft = grow(draft, 't1', ' 👋', 5);
    draft = grow(draft, 't1', ' hi', 7);
    expect(draft).toEqual({ turnId: 't1', text: 'echo: 👋 hi' });
  });

  it('starts again at offset 0 (a rerun turn) and for another turn', () => {
    const draft = grow(grow(null, 't1', 'echo: one', 0), 't1', ' two', 9);
    expect(grow(draft, 't1', 'echo:', 0)).toEqual({ turnId: 't1', text: 'echo:' });
    expect(grow(draft, 't2', 'other', 0)).toEqual({ turnId: 't2', text: 'other' });
  });
});
