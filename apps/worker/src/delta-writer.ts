/**
 * Batches a turn's reply deltas into stream writes: the first piece goes out at once,
 * later ones at most every `intervalMs`, one write in flight at a time and in order. So a
 * model streaming hundreds of tokens a second costs about 1000 / intervalMs Redis round
 * trips a second, not one per token. Each write carries its `offset`: how many characters
 * (Unicode code points) of the reply came before it, counting pieces whose write failed.
 */
export class DeltaWriter {
  private buffer = '';
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private lastWriteAt = 0;
  private offset = 0;
  private stopped = false;

  /**
   * `write` resolves false when the turn is no longer ours (taken over, finished, deleted):
   * nothing more is written then. `onError` hears failed writes (their text is dropped:
   * the turn's final message still holds the whole reply).
   */
  constructor(
    private readonly write: (text: string, offset: number) => Promise<boolean>,
    private readonly intervalMs = 50,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Adds a piece of the reply; it is written within `intervalMs`. */
  push(text: string): void {
    if (this.stopped || !text) return;
    this.buffer += text;
    if (this.timer) return;
    const wait = Math.max(0, this.lastWriteAt + this.intervalMs - Date.now());
    this.timer = setTimeout(() => void this.flush(), wait);
  }

  /** Writes what is buffered now; resolves once every write so far is done. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.chain = this.chain.then(() => this.writeBuffered());
    return this.chain;
  }

  /** Writes what is buffered, then writes nothing more (the turn is over). */
  async close(): Promise<void> {
    await this.flush();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async writeBuffered(): Promise<void> {
    if (this.stopped || !this.buffer) return;
    const text = this.buffer;
    const offset = this.offset;
    this.buffer = '';
    this.offset += codePoints(text);
    this.lastWriteAt = Date.now();
    try {
      if (!(await this.write(text, offset))) this.stopped = true;
    } catch (err) {
      this.onError(err);
    }
  }
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
