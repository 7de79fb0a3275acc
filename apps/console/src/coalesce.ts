/**
 * Wraps a loader so calls never overlap: a call while one runs asks for one more run after
 * it, and every caller's promise resolves after a run that started after its call.
 */
export function coalesce(run: () => Promise<void>): () => Promise<void> {
  let current: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  const start = (): Promise<void> => {
    current = run()
      .catch(() => {})
      .finally(() => {
        current = null;
      });
    return current;
  };
  return () => {
    if (!current) return start();
    queued ??= current.then(() => {
      queued = null;
      return start();
    });
    return queued;
  };
}
