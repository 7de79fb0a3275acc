import type { Status } from '../api.ts';

export function StatusBadge({ status }: { status: Status | string }) {
  return (
    <span class={`badge status-${status}`} data-testid="status">
      {status}
    </span>
  );
}
