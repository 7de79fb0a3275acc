/**
 * The turns this worker process is running, so cancel and shutdown can abort them.
 *
 * A cancel is published to every worker. One that names a turn this worker does not hold
 * (yet) is remembered for a while: the message can overtake the claim's reply, between the
 * claim script and `add`, and the turn would then run to its end before `finish` ended it
 * as cancelled. `add` aborts such a turn at once.
 */
export class ActiveTurns {
  private readonly turns = new Map<string, AbortController>();
  /** Cancels of turns not held here, by arrival time (oldest first; bounded). */
  private readonly early = new Map<string, number>();

  constructor(
    private readonly options: { rememberMs?: number; rememberMax?: number; now?: () => number } = {},
  ) {}

  add(sessionId: string, turnId: string, controller: AbortController): () => void {
    const key = `${sessionId}\n${turnId}`;
    this.turns.set(key, controller);
    const at = this.early.get(key);
    if (at !== undefined) {
      this.early.delete(key);
      if (this.now() - at <= this.rememberMs) controller.abort('cancelled');
    }
    return () => {
      if (this.turns.get(key) === controller) this.turns.delete(key);
    };
  }

  /** `key` is `<session id>\n<turn id>`, as published on the cancel channel. */
  cancel(key: string): boolean {
    const controller = this.turns.get(key);
    if (controller) {
      controller.abort('cancelled');
      return true;
    }
    this.remember(key);
    return false;
  }

  abortAll(reason: string): number {
    for (const controller of this.turns.values()) controller.abort(reason);
    return this.turns.size;
  }

  get size(): number {
    return this.turns.size;
  }

  private remember(key: string): void {
    const now = this.now();
    this.early.delete(key);
    this.early.set(key, now);
    // Oldest first: drop what is too old, then what is over the cap.
    for (const [k, at] of this.early) {
      if (now - at <= this.rememberMs && this.early.size <= (this.options.rememberMax ?? 1000)) break;
      this.early.delete(k);
    }
  }

  private get rememberMs(): number {
    return this.options.rememberMs ?? 60_000;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
