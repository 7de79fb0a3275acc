import { BatonError } from '@baton/client';

/** The server has no events endpoint (an older Baton), or something in between does not stream. */
export function streamUnavailable(err: unknown): err is BatonError {
  if (!(err instanceof BatonError)) return false;
  return err.code === 'route_not_found' || err.code === 'method_not_allowed' || err.code === 'not_event_stream';
}

/**
 * What of a streamed reply is new: deltas carry their `offset` (code points) into the
 * reply, and a turn run again after a worker died streams again from 0.
 */
export class ReplyText {
  printed = 0;

  /** The part of this delta not printed yet ('' when none). */
  delta(content: string, offset: number): string {
    const chars = [...content];
    const skip = Math.max(0, this.printed - offset);
    if (skip >= chars.length) return '';
    this.printed = offset + chars.length;
    return chars.slice(skip).join('');
  }

  /** The rest of the whole reply after what the deltas printed. */
  rest(content: string): string {
    return [...content].slice(this.printed).join('');
  }
}
