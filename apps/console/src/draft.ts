/** The reply being written: the `delta` events of a running turn, joined. */
export interface Draft {
  turnId: string;
  text: string;
}

/**
 * The reply so far after one more delta: the first `offset` code points of the text so far
 * (`offset` counts code points, as the server does), then this piece. A delta of another turn
 * starts a new draft; an offset of 0 starts again (a turn run again after its worker died).
 */
export function grow(prev: Draft | null, turnId: string, content: string, offset: number): Draft {
  const before = prev && prev.turnId === turnId ? Array.from(prev.text) : [];
  return { turnId, text: before.slice(0, offset).join('') + content };
}
