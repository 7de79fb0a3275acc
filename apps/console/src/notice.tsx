import { useState } from 'preact/hooks';

export interface Notice {
  text: string;
  error?: boolean;
}

/** A line of feedback about the last action; it stays until the next one or until closed. */
export function useNotice(): [Notice | null, (n: Notice | null) => void] {
  return useState<Notice | null>(null);
}

export function NoticeLine({ notice, onClose }: { notice: Notice | null; onClose: () => void }) {
  if (!notice) return null;
  return (
    <p class={notice.error ? 'error notice-line' : 'notice notice-line'} role={notice.error ? 'alert' : 'status'} data-testid="notice">
      <span>{notice.text}</span>
      <button class="close" onClick={onClose} title="Close" aria-label="Close">
        ×
      </button>
    </p>
  );
}
