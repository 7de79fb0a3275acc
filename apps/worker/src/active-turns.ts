/** The turns this worker process is running, so cancel and shutdown can abort them. */
export class ActiveTurns {
  private readonly turns = new Map<string, AbortController>();

  add(sessionId: string, turnId: string, controller: AbortController): () => void {
    const key = `${sessionId}\n${turnId}`;
    this.turns.set(key, controller);
    return () => {
      if (this.turns.get(key) === controller) this.turns.delete(key);
    };
  }

  /** `key` is `<session id>\n<turn id>`, as published on the cancel channel. */
  cancel(key: string): boolean {
    const controller = this.turns.get(key);
    controller?.abort('cancelled');
    return controller !== undefined;
  }

  abortAll(reason: string): number {
    for (const controller of this.turns.values()) controller.abort(reason);
    return this.turns.size;
  }

  get size(): number {
    return this.turns.size;
  }
}
