import { describe, expect, it } from 'vitest';
import { coalesce } from './coalesce.ts';

/** A loader whose runs the test ends one at a time. */
function gated() {
  const ends: (() => void)[] = [];
  let runs = 0;
  const run = () =>
    new Promise<void>((resolve) => {
      runs++;
      ends.push(resolve);
    });
  return { run, ends, runs: () => runs };
}

describe('coalesce', () => {
  it('never overlaps runs, and gives calls made during a run one more run after it', async () => {
    const loader = gated();
    const load = coalesce(loader.run);
    const first = load();
    const second = load();
    const third = load();
    expect(loader.runs()).toBe(1);
    expect(second).toBe(third); // both wait for the same next run
    loader.ends.shift()!();
    await first;
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(loader.runs()).toBe(2);
    let done = false;
    void second.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 0));
    expect(done).toBe(false); // resolves only after the run that started after it
    loader.ends.shift()!();
    await second;
    expect(loader.runs()).toBe(2);
  });

  it('goes on after a failed run', async () => {
    let calls = 0;
    const load = coalesce(async () => {
      calls++;
      if (calls === 1) throw new Error('network');
    });
    await load();
    await load();
    expect(calls).toBe(2);
  });
});
