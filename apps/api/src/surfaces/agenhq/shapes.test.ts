import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { SessionView } from '@baton/core';
import type { TimelineEntry } from '@baton/store';
import { agentStatus, eventId, nameUuid, toEvents, toSession } from './shapes.ts';
import { FastifyValidationError, validate } from './validate.ts';

const SID = '6f1c1c52-1111-4a4a-8b8b-000000000001';
const T1 = '0d5e7f00-2222-4b4b-9c9c-000000000001';
const T2 = '0d5e7f00-2222-4b4b-9c9c-000000000002';
const T3 = '0d5e7f00-2222-4b4b-9c9c-000000000003';

function view(overrides: Partial<SessionView> = {}): SessionView {
  return {
    session_id: SID,
    status: 'idle',
    response: null,
    error: null,
    agent: 'echo',
    tenant: '',
    paused: false,
    archived: false,
    attributes: {},
    total_messages: 0,
    pending_messages: 0,
    turn_id: null,
    interrupts: [],
    created_at: '2025-01-01T00:00:00.000Z',
    updated_at: '2025-01-01T00:00:01.000Z',
    ...overrides,
  };
}

const entry = (seq: number, role: 'user' | 'assistant' | 'system' | 'tool', content: string | null, meta: TimelineEntry['meta'], status: TimelineEntry['status'] = 'completed'): TimelineEntry => ({
  seq,
  message: { role, content },
  meta,
  status,
});

describe('toSession', () => {
  it('maps a SessionView with attributes onto the agenhq Session', () => {
    const s = toSession(view({ tenant: 't_abc', attributes: { title: 'Fix CI', branch_name: 'main', auto_commit: 'true', model: 'gpt-x' } }));
    expect(s).toEqual({
      id: SID,
      title: 'Fix CI',
      workspace_id: 't_abc',
      user_id: 't_abc',
      branch_name: 'main',
      auto_commit: true,
      status: 'active',
      origin: 'api',
      created_at: '2025-01-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:01.000Z',
      sandbox_id: null,
      model: 'gpt-x',
      agent_status: 'idle',
      merged_at: null,
      deep_work_id: null,
    });
  });

  it('fills defaults for a session created elsewhere (no attributes, auth off)', () => {
    expect(toSession(view())).toMatchObject({ title: '', workspace_id: 'default', branch_name: null, auto_commit: false, model: 'echo' });
  });

  it('maps statuses: running → working, error → error, paused → paused, interrupted → waiting_for_input, archived', () => {
    expect(agentStatus(view({ status: 'running' }))).toBe('working');
    expect(agentStatus(view({ status: 'running', paused: true }))).toBe('working');
    expect(agentStatus(view({ status: 'error' }))).toBe('error');
    expect(agentStatus(view({ status: 'idle', paused: true }))).toBe('paused');
    expect(agentStatus(view({ status: 'interrupted' }))).toBe('waiting_for_input');
    expect(toSession(view({ archived: true, paused: true })).status).toBe('archived');
    expect(toSession(view({ archived: true, paused: true })).agent_status).toBe('idle');
  });
});

describe('toEvents', () => {
  const timeline: TimelineEntry[] = [
    entry(0, 'system', 'be brief', { at: 1000 }),
    entry(1, 'user', 'one', { at: 2000, turn: T1, client_id: 'c-1' }),
    entry(2, 'assistant', 'echo: one', { at: 2500, turn: T1 }),
    entry(3, 'user', 'two', { at: 3000, turn: T2 }, 'failed'),
    entry(4, 'tool', '{"ok":true}', { at: 3100 }),
    entry(5, 'user', 'three', { at: 4000, turn: T3 }, 'canceled'),
    entry(6, 'user', 'four', { at: 5000, turn: '0d5e7f00-2222-4b4b-9c9c-000000000004' }, 'processing'),
    entry(7, 'user', 'five', { at: 6000, turn: '0d5e7f00-2222-4b4b-9c9c-000000000005', client_id: 'c-5' }, 'queued'),
    entry(8, 'assistant', null, null),
  ];
  const events = toEvents(SID, timeline, '2024-12-31T00:00:00.000Z');

  it('gives each message its agenhq type, payload and status; tool results are left out', () => {
    expect(events.map((e) => [e.type, e.payload.message, e.status])).toEqual([
      ['system_message', 'be brief', 'completed'],
      ['user_message', 'one', 'completed'],
      ['agent_message', 'echo: one', 'completed'],
      ['user_message', 'two', 'completed'], // a failed turn: agenhq has no failed status
      ['user_message', 'three', 'canceled'],
      ['user_message', 'four', 'processing'],
      ['user_message', 'five', 'queued'],
      ['agent_message', '', 'completed'],
    ]);
    for (const e of events) {
      expect(e.payload.type).toBe(e.type);
      expect(e.session_id).toBe(SID);
      expect(e.session_goal_id).toBeNull();
      expect(e.session_task_id).toBeNull();
    }
  });

  it('names user messages by their turn and other messages by a stable name-based UUID', () => {
    expect(events[1]?.id).toBe(T1);
    expect(events[3]?.id).toBe(T2);
    expect(events[0]?.id).toBe(nameUuid(`${SID}:0`));
    expect(events[2]?.id).toBe(nameUuid(`${SID}:2`));
    expect(events[2]?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(eventId(SID, timeline[2] as TimelineEntry)).toBe(eventId(SID, { ...(timeline[2] as TimelineEntry) }));
  });

  it('dates events from their metadata; a user message is updated when its reply arrives', () => {
    expect(events[1]).toMatchObject({ created_at: new Date(2000).toISOString(), updated_at: new Date(2500).toISOString(), client_id: 'c-1' });
    expect(events[3]).toMatchObject({ created_at: new Date(3000).toISOString(), updated_at: new Date(3000).toISOString(), client_id: null });
    expect(events[6]?.client_id).toBe('c-5');
    expect(events[7]).toMatchObject({ created_at: '2024-12-31T00:00:00.000Z', updated_at: '2024-12-31T00:00:00.000Z' });
  });
});

describe('validate (Fastify-style 400s)', () => {
  const Body = z.object({ message: z.string().min(1), n: z.coerce.number().int().max(5).optional() });
  const fail = (value: unknown, where: 'body' | 'querystring' = 'body') => {
    try {
      validate(Body, value, where);
    } catch (err) {
      expect(err).toBeInstanceOf(FastifyValidationError);
      expect((err as FastifyValidationError).status).toBe(400);
      expect((err as FastifyValidationError).code).toBe('FST_ERR_VALIDATION');
      return (err as Error).message;
    }
    throw new Error('expected a validation error');
  };

  it('words messages the way ajv does', () => {
    expect(fail({ message: '' })).toBe('body/message must NOT have fewer than 1 characters');
    expect(fail({})).toBe("body must have required property 'message'");
    expect(fail({ message: 5 })).toBe('body/message must be string');
    expect(fail('text')).toBe('body must be object');
    expect(fail({ message: 'x', n: 'abc' }, 'querystring')).toBe('querystring/n must be number');
    expect(fail({ message: 'x', n: 1.5 })).toBe('body/n must be integer');
    expect(fail({ message: 'x', n: 9 })).toBe('body/n must be <= 5');
  });
});
