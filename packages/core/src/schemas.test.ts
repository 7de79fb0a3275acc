import { describe, expect, it } from 'vitest';
import { ChatMessage, CreateSessionRequest, MessageRequest, WebhookSpec, compactMessage, SECRET_MESSAGE } from './schemas.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** The issues of a failed parse, as `path: code` strings. */
function issues(result: { success: boolean; error?: { issues: { path: PropertyKey[]; code: string }[] } }): string[] {
  expect(result.success).toBe(false);
  return (result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.code}`);
}

describe('MessageRequest', () => {
  it('defaults role to user, content to null, if_busy to reject and webhook to null', () => {
    expect(MessageRequest.parse({})).toEqual({ role: 'user', content: null, if_busy: 'reject', webhook: null });
  });

  it('keeps the values it is given', () => {
    const parsed = MessageRequest.parse({
      role: 'system',
      content: 'hi',
      if_busy: 'enqueue',
      webhook: { url: 'https://example.com/hook', secret: SECRET },
      user_params: { temperature: 0 },
    });
    expect(parsed).toEqual({
      role: 'system',
      content: 'hi',
      if_busy: 'enqueue',
      webhook: { url: 'https://example.com/hook', secret: SECRET, include_messages: false },
      user_params: { temperature: 0 },
    });
  });

  it('rejects an unknown field', () => {
    const result = MessageRequest.safeParse({ content: 'hi', temperature: 1 });
    expect(issues(result)).toEqual([': unrecognized_keys']);
  });

  it('rejects an unknown field inside the webhook', () => {
    const result = MessageRequest.safeParse({ webhook: { url: 'https://example.com', retries: 3 } });
    expect(issues(result)).toEqual(['webhook: unrecognized_keys']);
  });

  it('rejects an unknown role and an unknown busy policy', () => {
    const result = MessageRequest.safeParse({ role: 'robot', if_busy: 'wait' });
    expect(issues(result).sort()).toEqual(['if_busy: invalid_value', 'role: invalid_value']);
  });

  it('accepts an explicit null webhook', () => {
    expect(MessageRequest.parse({ content: 'x', webhook: null }).webhook).toBeNull();
  });
});

describe('WebhookSpec', () => {
  it.each(['https://example.com/hook', 'http://127.0.0.1:8080/cb?x=1', 'HTTPS://EXAMPLE.COM'])('accepts %s', (url) => {
    expect(WebhookSpec.parse({ url })).toEqual({ url, include_messages: false });
  });

  it.each(['ftp://example.com/hook', 'javascript:alert(1)', 'file:///etc/passwd', 'example.com/hook', '/relative', 'https:example.com'])(
    'rejects %s with the http(s) message',
    (url) => {
      const result = WebhookSpec.safeParse({ url });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]).toMatchObject({ path: ['url'], message: 'must be an absolute http(s) URL' });
    },
  );

  it('rejects a URL longer than 2048 characters', () => {
    const url = `https://example.com/${'a'.repeat(2048)}`;
    expect(issues(WebhookSpec.safeParse({ url }))).toEqual(['url: too_big']);
  });

  it('accepts a whsec_ secret, and two while rotating', () => {
    expect(WebhookSpec.parse({ url: 'https://example.com', secret: SECRET }).secret).toBe(SECRET);
    const two = `${SECRET} whsec_dGVzdA==`;
    expect(WebhookSpec.parse({ url: 'https://example.com', secret: two }).secret).toBe(two);
  });

  it('rejects a token that could break out of its header', () => {
    const result = WebhookSpec.safeParse({ url: 'https://example.com', token: 'abc\r\nX-Evil: 1' });
    expect(result.error?.issues[0]).toMatchObject({ path: ['token'] });
  });

  it.each(['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_', 'whsec_not base64!', 'WHSEC_abc', ' whsec_abc'])(
    'rejects the secret %j',
    (secret) => {
      const result = WebhookSpec.safeParse({ url: 'https://example.com', secret });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]).toMatchObject({ path: ['secret'], message: SECRET_MESSAGE });
    },
  );

  it('requires a url', () => {
    expect(issues(WebhookSpec.safeParse({ token: 't' }))).toEqual(['url: invalid_type']);
  });
});

describe('CreateSessionRequest', () => {
  it('defaults state to [] and leaves agent unset', () => {
    expect(CreateSessionRequest.parse({})).toEqual({ state: [] });
  });

  it('takes any agent name (the service checks it exists) and a config object; rejects unknown fields in state messages', () => {
    expect(CreateSessionRequest.parse({ agent: 'calculator', config: { temperature: 0.2 } })).toEqual({
      state: [],
      agent: 'calculator',
      config: { temperature: 0.2 },
    });
    expect(issues(CreateSessionRequest.safeParse({ agent: '' }))).toEqual(['agent: too_small']);
    expect(issues(CreateSessionRequest.safeParse({ config: [1] }))).toEqual(['config: invalid_type']);
    expect(issues(CreateSessionRequest.safeParse({ state: [{ content: 'x', extra: 1 }] }))).toEqual(['state.0: unrecognized_keys']);
  });
});

describe('ChatMessage reasoning fields (Motus)', () => {
  it('accepts reasoning and reasoning_details and keeps them as given', () => {
    const details = [{ type: 'reasoning.encrypted', data: 'opaque==', id: 'r1', format: 'anthropic-claude-v1', index: 0 }];
    const message = { role: 'assistant', content: 'hi', reasoning: 'I thought.', reasoning_details: details };
    expect(compactMessage(ChatMessage.parse(message))).toStrictEqual(message);
    expect(compactMessage(ChatMessage.parse({ role: 'assistant', content: null, reasoning: null, reasoning_details: null }))).toStrictEqual({
      role: 'assistant',
      content: null,
      reasoning: null,
      reasoning_details: null,
    });
    expect(issues(ChatMessage.safeParse({ reasoning: 3 }))).toEqual(['reasoning: invalid_type']);
    expect(issues(ChatMessage.safeParse({ reasoning_details: ['text'] }))).toEqual(['reasoning_details.0: invalid_type']);
  });
});

describe('compactMessage', () => {
  it('drops optional fields that are undefined, keeping role and content', () => {
    const parsed = ChatMessage.parse({ content: 'hello' });
    const compact = compactMessage(parsed);
    expect(compact).toEqual({ role: 'user', content: 'hello' });
    expect(Object.keys(compact).sort()).toEqual(['content', 'role']);
    expect(JSON.stringify(compact)).toBe('{"role":"user","content":"hello"}');
  });

  it('keeps role and content even when content is null', () => {
    expect(Object.keys(compactMessage(ChatMessage.parse({})))).toEqual(['role', 'content']);
  });

  it('keeps every optional field that was given, including a null user_params', () => {
    const message = ChatMessage.parse({
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'c1', function: { name: 'f', arguments: '{}' } }],
      tool_call_id: 't1',
      name: 'bot',
      base64_image: 'aGk=',
      user_params: null,
    });
    expect(compactMessage(message)).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
      tool_call_id: 't1',
      name: 'bot',
      base64_image: 'aGk=',
      user_params: null,
    });
  });

  it('copies only message fields, never request-only ones such as webhook or if_busy', () => {
    const request = MessageRequest.parse({ content: 'x', if_busy: 'enqueue', webhook: { url: 'https://example.com' } });
    expect(compactMessage(request)).toEqual({ role: 'user', content: 'x' });
  });
});
