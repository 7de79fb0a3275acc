import type { SessionView } from '@baton/core';
import { type TenantSessions, type WalkMark, markIn } from '@baton/store';
import { type EventFilter, type EventJson, entryEvents, matches, placedEvents } from './events.ts';

export interface EventQuery {
  limit: number;
  /** `sort_order=TIMESTAMP_DESC`: newest first. */
  desc: boolean;
  filter: EventFilter;
  pageId?: string;
}

export interface EventPage {
  items: EventJson[];
  next_page_id: string | null;
}

/** Entries read per window when counting with a filter (each window one LRANGE, shorter for big entries). */
const COUNT_WINDOW = 500;

/**
 * `GET /api/conversations/{id}/events/search`: one page of the conversation's events in time
 * order (or newest first), as the agent server pages them: `next_page_id` is the id of the
 * page's next event, and a page starts at the event it names. The events are read by range
 * (a TimelineWalk): a page costs about its own size, whatever the history's length. Where the
 * next page starts is kept under its `next_page_id` (a walk mark, an hour); a `page_id` with
 * no mark (expired, or from another source) makes that page read the timeline whole, once.
 * Filters are applied while walking: a filtered page reads the events it skips (in windows);
 * its time bounds end the walk. `unknown_page`: the `page_id` names no event of it.
 */
export async function searchEvents(sessions: TenantSessions, id: string, query: EventQuery): Promise<EventPage | 'unknown_page'> {
  const view = await sessions.getSession(id);
  let start: { mark: WalkMark; index: number } | null = null;
  if (query.pageId !== undefined) {
    start = decodeMark(await sessions.marks.get(id, query.pageId), query.desc);
    if (!start) return wholeSearch(sessions, view, query);
  }
  const walk = await sessions.timelineWalk(id, query.desc ? 'desc' : 'asc', { ...(start ? { from: start.mark } : {}), window: query.limit + 2 });
  if (walk === 'unindexed') return wholeSearch(sessions, view, query);
  const items: EventJson[] = [];
  let first = true;
  for (let entry = await walk.next(); entry; entry = await walk.next()) {
    const events = inOrder(entryEvents(view, entry, entry.ordinal), query.desc);
    let from = 0;
    if (first && start) {
      // The mark names where the page's first event was: is it still there?
      if (events[start.index]?.id !== query.pageId) return wholeSearch(sessions, view, query);
      from = start.index;
    }
    first = false;
    if (pastBounds(events[0] as EventJson, query.filter, query.desc)) break;
    for (let i = from; i < events.length; i++) {
      const event = events[i] as EventJson;
      if (!matches(event, query.filter)) continue;
      if (items.length === query.limit) {
        await sessions.marks.set(id, event.id, encodeMark(entry.mark, i, query.desc));
        return { items, next_page_id: event.id };
      }
      items.push(event);
    }
  }
  if (first && start) return wholeSearch(sessions, view, query);
  return { items, next_page_id: null };
}

/**
 * `GET …/events/count`: without a filter, from the time index's counts (entries, tool calls,
 * turn errors: no history read); with one, the events are walked in windows and counted, from
 * the end its time bounds cut short.
 */
export async function countEvents(sessions: TenantSessions, id: string, filter: EventFilter): Promise<number> {
  if (Object.values(filter).every((v) => v === undefined)) {
    const counts = await sessions.timelineCounts(id);
    if (counts !== 'unindexed') return counts.entries + counts.toolCalls + counts.turnErrors;
  }
  const view = await sessions.getSession(id);
  const desc = filter.gte !== undefined && filter.lt === undefined;
  const walk = await sessions.timelineWalk(id, desc ? 'desc' : 'asc', { window: COUNT_WINDOW });
  if (walk === 'unindexed') return placedEvents(view, await sessions.timeline(id)).filter((p) => matches(p.event, filter)).length;
  let count = 0;
  for (let entry = await walk.next(); entry; entry = await walk.next()) {
    const events = entryEvents(view, entry, entry.ordinal);
    if (pastBounds(events[0] as EventJson, filter, desc)) break;
    count += events.filter((event) => matches(event, filter)).length;
  }
  return count;
}

/** The page from the timeline read whole (in bounded chunks), for sessions without a time index or a page_id without its mark. */
async function wholeSearch(sessions: TenantSessions, view: SessionView, query: EventQuery): Promise<EventPage | 'unknown_page'> {
  const entries = await sessions.timeline(view.session_id);
  const placed = placedEvents(view, entries);
  if (query.desc) placed.reverse();
  let start = 0;
  if (query.pageId !== undefined) {
    start = placed.findIndex((p) => p.event.id === query.pageId);
    if (start < 0) return 'unknown_page';
  }
  const items: EventJson[] = [];
  for (const p of placed.slice(start)) {
    if (!matches(p.event, query.filter)) continue;
    if (items.length === query.limit) {
      // The next page starts here: marked, so it is read by range.
      const count = placed.filter((o) => o.entry === p.entry).length;
      const index = query.desc ? count - 1 - p.index : p.index;
      const mark = markIn(entries, { at: p.entry.meta?.at ?? 0, seq: p.entry.seq }, query.desc ? 'desc' : 'asc');
      await sessions.marks.set(view.session_id, p.event.id, encodeMark(mark, index, query.desc));
      return { items, next_page_id: p.event.id };
    }
    items.push(p.event);
  }
  return { items, next_page_id: null };
}

function inOrder(events: EventJson[], desc: boolean): EventJson[] {
  return desc ? events.reverse() : events;
}

/** True once the walk has passed the filter's time bound (every later entry is past it too). */
function pastBounds(event: EventJson, filter: EventFilter, desc: boolean): boolean {
  const at = Date.parse(event.timestamp);
  return desc ? filter.gte !== undefined && at < filter.gte : filter.lt !== undefined && at >= filter.lt;
}

/** `<a|d>:<at>:<seq>:<next>:<index>`: the walk's order, its mark, and the event's index among its entry's events. */
function encodeMark(mark: WalkMark, index: number, desc: boolean): string {
  return `${desc ? 'd' : 'a'}:${mark.at}:${mark.seq}:${mark.next}:${index}`;
}

function decodeMark(raw: string | null, desc: boolean): { mark: WalkMark; index: number } | null {
  const m = raw ? /^([ad]):(\d+):(\d+):(-?\d+):(\d+)$/.exec(raw) : null;
  if (!m || (m[1] === 'd') !== desc) return null;
  return { mark: { at: Number(m[2]), seq: Number(m[3]), next: Number(m[4]) }, index: Number(m[5]) };
}
