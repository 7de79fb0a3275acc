/**
 * Named places where a process can be told to die or stall, so the fault tests can
 * prove that no crash point loses an accepted turn. Off unless the app passes a name
 * from its configuration (`BATON_FAULT`); a no-op in production.
 *
 * `kill:<point>` SIGKILLs the process there (`kill:<point>:<n>`: the n-th time it gets there);
 * `block:<point>:<ms>` blocks its event loop there each time (`block:<point>:<ms>:<n>`: the first n times);
 * `skip:<point>` makes the hook answer 'skip' there: the process leaves out what follows
 * (`worker.cancel-message`: a cancel's pub/sub message is lost, as in a reconnect).
 */
export type FaultPoint =
  | 'api.after-state-write'
  | 'api.after-create'
  | 'worker.after-agent-reply'
  | 'worker.after-claim'
  | 'worker.after-finish'
  | 'worker.cancel-message'
  /** A step of a multi-step turn is recorded; the next has not started. */
  | 'worker.after-step';

export type FaultHook = (point: FaultPoint) => 'skip' | undefined;

export const noFault: FaultHook = () => undefined;

export function makeFaultHook(spec: string | undefined): FaultHook {
  if (!spec) return noFault;
  const [action, point, arg, times] = spec.split(':');
  let hits = 0;
  return (at) => {
    if (at !== point) return;
    if (action === 'kill') {
      if (++hits < Number(arg ?? 1)) return;
      process.kill(process.pid, 'SIGKILL');
    } else if (action === 'block') {
      if (times !== undefined && ++hits > Number(times)) return;
      const until = Date.now() + Number(arg ?? 1000);
      while (Date.now() < until) {
        // Busy-wait on purpose: a blocked event loop cannot renew its BullMQ lock.
      }
    } else if (action === 'skip') {
      return 'skip';
    }
    return undefined;
  };
}
