import { describe, expect, it } from 'vitest';
import { formatTable } from './table.ts';

describe('formatTable', () => {
  it('pads every column but the last to its widest cell, two spaces apart', () => {
    expect(formatTable(['SESSION', 'STATUS', 'MESSAGES'], [['a', 'running', '2'], ['bbbbbbbbb', 'idle', '10']])).toBe(
      ['SESSION    STATUS   MESSAGES', 'a          running  2', 'bbbbbbbbb  idle     10'].join('\n'),
    );
  });
});
