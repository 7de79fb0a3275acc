import { afterEach, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../../../examples/webhook-receiver/server.ts';
import { generateSecret, signedHeaders } from './signature.ts';

const secret = generateSecret();
const receivers: Receiver[] = [];
const logs: string[] = [];

afterEach(async () => {
  for (const receiver of receivers.splice(0)) await receiver.close();
  logs.length = 0;
});

async function start(secrets = [secret], maxSeen?: number): Promise<Receiver> {
  const receiver = await startReceiver({
    port: 0,
    secrets,
    log: (line) => logs.push(line),
    ...(maxSeen === undefined ? {} : { maxSeen }),
  });
  receivers.push(receiver);
  return receiver;
}

function post(url: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

function delivery(id: string, payload: object, secrets = [secret]) {
  const body = JSON.stringify(payload);
  const headers = signedHeaders({ id, timestamp: Math.floor(Date.now() / 1000), body, secrets });
  return { body, headers };
}

describe('examples/webhook-receiver', () => {
  it('accepts a validly signed delivery once and logs its type, session and turn', async () => {
    const receiver = await start();
    const { body, headers } = delivery('msg_1', { type: 'turn.completed', session_id: 's_1', turn_id: 't_1' });
    const res = await post(receiver.url, body, headers);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(receiver.events).toEqual([
      {
        id: 'msg_1',
        timestamp: Number(headers['webhook-timestamp']),
        type: 'turn.completed',
        sessionId: 's_1',
        turnId: 't_1',
        payload: JSON.parse(body),
      },
    ]);
    expect(logs.map((l) => JSON.parse(l))).toContainEqual({
      msg: 'webhook',
      id: 'msg_1',
      type: 'turn.completed',
      session_id: 's_1',
      turn_id: 't_1',
    });
  });

  it('acknowledges a duplicate webhook-id without processing it again', async () => {
    const receiver = await start();
    const first = delivery('msg_dup', { type: 'turn.completed', session_id: 's_1', turn_id: 't_1' });
    expect((await post(receiver.url, first.body, first.headers)).status).toBe(200);
    // A retry of the same delivery: same id, fresh timestamp and signature.
    const retry = delivery('msg_dup', { type: 'turn.completed', session_id: 's_1', turn_id: 't_1' });
    const res = await post(receiver.url, retry.body, retry.headers);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, duplicate: true });
    expect(receiver.events.map((e) => e.id)).toEqual(['msg_dup']);
  });

  it('answers 401 to a bad signature and does not process it', async () => {
    const receiver = await start();
    const { body, headers } = delivery('msg_bad', { type: 'turn.completed' }, [generateSecret()]);
    const res = await post(receiver.url, body, headers);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'bad_signature' });

    const tampered = delivery('msg_tampered', { type: 'turn.completed', turn_id: 't_1' });
    const res2 = await post(receiver.url, tampered.body.replace('t_1', 't_2'), tampered.headers);
    expect(res2.status).toBe(401);

    const res3 = await post(receiver.url, body, {});
    expect(res3.status).toBe(401);
    expect(await res3.json()).toEqual({ error: 'missing_headers' });
    expect(receiver.events).toHaveLength(0);
  });

  it('a rejected forgery does not burn the id of the genuine delivery', async () => {
    const receiver = await start();
    const forged = delivery('msg_x', { type: 'evil' }, [generateSecret()]);
    expect((await post(receiver.url, forged.body, forged.headers)).status).toBe(401);
    const genuine = delivery('msg_x', { type: 'turn.completed' });
    expect(await (await post(receiver.url, genuine.body, genuine.headers)).json()).toEqual({ ok: true });
    expect(receiver.events.map((e) => e.type)).toEqual(['turn.completed']);
  });

  it('accepts either secret during a rotation and reads fields nested under data', async () => {
    const next = generateSecret();
    const receiver = await start([secret, next]);
    const { body, headers } = delivery('msg_rot', { type: 'turn.failed', data: { session_id: 's_9', turn_id: 't_9' } }, [next]);
    expect((await post(receiver.url, body, headers)).status).toBe(200);
    expect(receiver.events[0]).toMatchObject({ type: 'turn.failed', sessionId: 's_9', turnId: 't_9' });
  });

  it('remembers only the most recent maxSeen ids', async () => {
    const receiver = await start([secret], 2);
    for (const id of ['a', 'b', 'c', 'a']) {
      const { body, headers } = delivery(id, { type: 'turn.completed' });
      expect((await post(receiver.url, body, headers)).status).toBe(200);
    }
    // 'a' was forgotten when 'c' arrived, so its late duplicate is processed again.
    expect(receiver.events.map((e) => e.id)).toEqual(['a', 'b', 'c', 'a']);
  });
});
