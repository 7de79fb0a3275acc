import { describe, expect, it } from 'vitest';
import { UsageError } from '../io.ts';
import { resumeValue } from './resume.ts';

const none = { approve: false, deny: false };

describe('resumeValue: the answer `baton resume` sends', () => {
  it('--approve and --deny [reason] answer a tool approval', () => {
    expect(resumeValue({ ...none, approve: true, rest: [] })).toEqual({ approved: true });
    expect(resumeValue({ ...none, deny: true, rest: [] })).toEqual({ approved: false });
    expect(resumeValue({ ...none, deny: true, rest: ['too', 'much'] })).toEqual({ approved: false, reason: 'too much' });
  });

  it('otherwise one JSON value, sent as it is', () => {
    expect(resumeValue({ ...none, rest: ['"Ada"'] })).toBe('Ada');
    expect(resumeValue({ ...none, rest: ['{"city": "Oslo", "days": 3}'] })).toEqual({ city: 'Oslo', days: 3 });
    expect(resumeValue({ ...none, rest: ['null'] })).toBeNull();
  });

  it('refuses, as usage errors: both flags, a value with --approve, no value, two values, text that is not JSON', () => {
    const cases = [
      { approve: true, deny: true, rest: [] },
      { approve: true, deny: false, rest: ['"x"'] },
      { ...none, rest: [] },
      { ...none, rest: ['1', '2'] },
      { ...none, rest: ['Ada'] },
    ];
    for (const args of cases) expect(() => resumeValue(args), JSON.stringify(args)).toThrow(UsageError);
  });
});
