import type { Request, Response } from 'express';

/**
 * Abort signals for requests that wait (long-polls, event streams): each aborts when its
 * client goes away or the process shuts down. One listener on the shutdown signal serves
 * them all: adding and removing one per request would take time in proportion to how
 * many requests are waiting (an EventTarget looks through its listeners each time).
 */
export class RequestSignals {
  private readonly open = new Set<AbortController>();

  constructor(private readonly shutdown: AbortSignal) {
    shutdown.addEventListener('abort', () => {
      for (const controller of this.open) controller.abort();
    });
  }

  /** The request's signal; its response ending normally does not abort it (nothing is left to stop). */
  for(req: Request, res: Response): AbortSignal {
    const controller = new AbortController();
    if (this.shutdown.aborted || req.destroyed || res.destroyed) {
      controller.abort();
      return controller.signal;
    }
    this.open.add(controller);
    res.once('close', () => {
      this.open.delete(controller);
      if (!res.writableFinished) controller.abort();
    });
    return controller.signal;
  }

  /** Requests holding a signal now (for tests). */
  get size(): number {
    return this.open.size;
  }
}
