import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  type LookupAll,
  blockedAddressReason,
  checkWebhookUrl,
  guardedLookup,
  resolveWebhookHost,
} from './address.ts';

describe('blockedAddressReason', () => {
  const blocked: [ip: string, reason: string][] = [
    // IPv4
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this-network'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.254', 'cgnat'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.0.1', 'link-local'],
    ['169.254.169.254', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    // IPv6
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['FF05::2', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2001:db8:ffff::1', 'documentation'],
    ['64:ff9b::7f00:1', 'nat64 loopback'],
    ['64:ff9b::10.0.0.1', 'nat64 private'],
    ['64:ff9b::169.254.169.254', 'nat64 link-local'],
    ['::ffff:127.0.0.1', 'ipv4-mapped loopback'],
    ['::ffff:7f00:1', 'ipv4-mapped loopback'],
    ['::FFFF:7F00:0001', 'ipv4-mapped loopback'],
    ['::ffff:10.1.2.3', 'ipv4-mapped private'],
    ['::ffff:a9fe:a9fe', 'ipv4-mapped link-local'],
    ['::ffff:0.0.0.0', 'ipv4-mapped unspecified'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'ipv4-mapped private'],
    ['::127.0.0.1', 'ipv4-compatible'],
    ['::8.8.8.8', 'ipv4-compatible'],
    ['::7f00:1', 'ipv4-compatible'],
    ['2002:7f00:1::1', '6to4 loopback'],
    ['2002:c0a8:101::1', '6to4 private'],
    ['2001::1', 'teredo'],
    ['100::1', 'discard-only'],
    ['fec0::1', 'site-local'],
    ['3fff::1', 'documentation'],
    ['4000::1', 'reserved'],
    ['::2', 'ipv4-compatible'],
    // Not addresses at all: fail closed.
    ['example.com', 'not an ip address'],
    ['', 'not an ip address'],
    ['127.1', 'not an ip address'],
  ];
  it.each(blocked)('blocks %s as %s', (ip, reason) => {
    expect(blockedAddressReason(ip)).toBe(reason);
  });

  const allowed = [
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '100.63.255.255', // just below CGNAT
    '100.128.0.0', // just above CGNAT
    '172.15.255.255', // just below 172.16/12
    '172.32.0.0', // just above
    '169.253.255.255',
    '192.0.1.1',
    '192.169.0.1',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255', // just below multicast
    '11.0.0.1',
    '2606:4700::1',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
    '::ffff:808:808',
    '64:ff9b::8.8.8.8',
    '64:ff9b::101:101',
    '2002:808:808::1', // 6to4 of a public address
  ];
  it.each(allowed)('allows %s', (ip) => {
    expect(blockedAddressReason(ip)).toBeNull();
  });
});

describe('checkWebhookUrl', () => {
  it('accepts public http(s) URLs and returns the parsed URL', () => {
    const result = checkWebhookUrl('https://hooks.example.com:8443/baton?x=1');
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.url.port).toBe('8443');
    expect(checkWebhookUrl('http://8.8.8.8/hook').ok).toBe(true);
    expect(checkWebhookUrl('https://[2606:4700::1]/hook').ok).toBe(true);
  });

  const invalid: [url: string, reason: RegExp][] = [
    ['not a url', /valid/],
    ['/relative/path', /valid/],
    ['ftp://example.com/file', /protocol ftp:/],
    ['file:///etc/passwd', /protocol file:/],
    ['javascript:alert(1)', /protocol javascript:/],
    ['https://user:pass@example.com/', /credentials/],
    ['https://user@example.com/', /credentials/],
  ];
  it.each(invalid)('rejects %s as invalid', (url, reason) => {
    const result = checkWebhookUrl(url);
    expect(result).toMatchObject({ ok: false, code: 'webhook_url_invalid' });
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  const refused: [url: string, reason: RegExp][] = [
    ['http://localhost:3000/hook', /loopback/],
    ['http://LOCALHOST./hook', /loopback/],
    ['http://api.localhost/hook', /loopback/],
    ['http://127.0.0.1/hook', /loopback/],
    ['http://127.1/hook', /loopback/], // normalised by the URL parser
    ['http://2130706433/hook', /loopback/],
    ['http://0x7f000001/hook', /loopback/],
    ['http://[::1]/hook', /loopback/],
    ['http://[::ffff:127.0.0.1]/hook', /ipv4-mapped loopback/],
    ['http://[::ffff:7f00:1]/hook', /ipv4-mapped loopback/],
    ['http://169.254.169.254/latest/meta-data/', /link-local/],
    ['http://0.0.0.0:8080/', /unspecified/],
    ['http://10.0.0.5/', /private/],
    ['http://[fd00::1]/', /unique-local/],
    ['http://[64:ff9b::a9fe:a9fe]/', /nat64 link-local/],
  ];
  it.each(refused)('refuses %s', (url, reason) => {
    const result = checkWebhookUrl(url);
    expect(result).toMatchObject({ ok: false, code: 'webhook_url_refused' });
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('lets ordinary names through (their addresses are judged by resolveWebhookHost)', () => {
    expect(checkWebhookUrl('http://localhost.example.com/').ok).toBe(true);
    expect(checkWebhookUrl('http://my-localhost/').ok).toBe(true);
  });
});

describe('resolveWebhookHost', () => {
  const fixed =
    (answers: Record<string, string[]>): LookupAll =>
    async (hostname) => {
      const addresses = answers[hostname];
      if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };

  it('refuses a public-looking name that resolves to loopback, naming the address and rule', async () => {
    const result = await resolveWebhookHost('hooks.example.com', fixed({ 'hooks.example.com': ['127.0.0.1'] }));
    expect(result).toEqual({
      ok: false,
      code: 'webhook_url_refused',
      reason: 'hooks.example.com resolves to 127.0.0.1, which is loopback',
    });
  });

  it('refuses when ANY address is blocked', async () => {
    const lookup = fixed({ 'mixed.example.com': ['93.184.216.34', '2606:4700::1', 'fd00::5'] });
    const result = await resolveWebhookHost('mixed.example.com', lookup);
    expect(result).toMatchObject({ ok: false, code: 'webhook_url_refused' });
    if (!result.ok) expect(result.reason).toMatch(/fd00::5.*unique-local/);
  });

  it('returns every address of a public name', async () => {
    const lookup = fixed({ 'ok.example.com': ['93.184.216.34', '2606:4700::1'] });
    expect(await resolveWebhookHost('ok.example.com', lookup)).toEqual({
      ok: true,
      addresses: ['93.184.216.34', '2606:4700::1'],
    });
  });

  it('is unresolvable on ENOTFOUND and lets other DNS failures through with no addresses', async () => {
    expect(await resolveWebhookHost('nope.example.com', fixed({}))).toMatchObject({
      ok: false,
      code: 'webhook_url_unresolvable',
    });
    const flaky: LookupAll = async () => {
      throw Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' });
    };
    expect(await resolveWebhookHost('flaky.example.com', flaky)).toEqual({ ok: true, addresses: [] });
  });

  it('judges IP literals without DNS, with or without brackets', async () => {
    const noDns: LookupAll = async () => {
      throw new Error('lookup must not be called for an IP literal');
    };
    expect(await resolveWebhookHost('[::1]', noDns)).toMatchObject({ ok: false, code: 'webhook_url_refused' });
    expect(await resolveWebhookHost('8.8.8.8', noDns)).toEqual({ ok: true, addresses: ['8.8.8.8'] });
  });

  it('refuses localhost through the real resolver', async () => {
    const result = await resolveWebhookHost('localhost');
    expect(result).toMatchObject({ ok: false, code: 'webhook_url_refused' });
    if (!result.ok) expect(result.reason).toMatch(/^localhost resolves to .*loopback/);
  });
});

describe('guardedLookup', () => {
  /** A fake `dns.lookup` that honours `options.all` like the real one. */
  const fakeLookup =
    (addresses: string[]): LookupFunction =>
    (_hostname, options, callback) => {
      const list = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
      queueMicrotask(() => {
        if (options.all) callback(null, list);
        else callback(null, list[0]!.address, list[0]!.family);
      });
    };

  const call = (fn: LookupFunction, options: dns.LookupOptions) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: string | dns.LookupAddress[]; family?: number }>(
      (resolve) => fn('hooks.example.com', options, (err, address, family) => resolve({ err, address, family })),
    );

  it('answers the single-address form for a public address', async () => {
    const lookup = guardedLookup({ allowPrivate: false, lookup: fakeLookup(['93.184.216.34']) });
    expect(await call(lookup, {})).toEqual({ err: null, address: '93.184.216.34', family: 4 });
  });

  it('answers the all form (Node 20 autoSelectFamily) for public addresses', async () => {
    const lookup = guardedLookup({ allowPrivate: false, lookup: fakeLookup(['93.184.216.34', '2606:4700::1']) });
    const { err, address } = await call(lookup, { all: true });
    expect(err).toBeNull();
    expect(address).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700::1', family: 6 },
    ]);
  });

  it.each([{}, { all: true }])('fails with EBLOCKED for a blocked address (options %o)', async (options) => {
    const lookup = guardedLookup({ allowPrivate: false, lookup: fakeLookup(['93.184.216.34', '169.254.169.254']) });
    const { err } = await call(lookup, options);
    expect(err?.code).toBe('EBLOCKED');
    expect(err?.message).toMatch(/169\.254\.169\.254.*link-local/);
  });

  it('accepts an inner lookup that only knows the single-address form', async () => {
    const single: LookupFunction = (_h, _o, callback) => queueMicrotask(() => callback(null, '10.1.1.1', 4));
    expect((await call(guardedLookup({ allowPrivate: false, lookup: single }), { all: true })).err?.code).toBe('EBLOCKED');
    expect(await call(guardedLookup({ allowPrivate: true, lookup: single }), { all: true })).toMatchObject({
      err: null,
      address: [{ address: '10.1.1.1', family: 4 }],
    });
  });

  it('lets private addresses through when allowPrivate', async () => {
    const lookup = guardedLookup({ allowPrivate: true, lookup: fakeLookup(['127.0.0.1']) });
    expect(await call(lookup, {})).toEqual({ err: null, address: '127.0.0.1', family: 4 });
  });

  it('passes DNS errors through', async () => {
    const failing: LookupFunction = (hostname, _o, callback) =>
      queueMicrotask(() => callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), ''));
    expect((await call(guardedLookup({ allowPrivate: false, lookup: failing }), {})).err?.code).toBe('ENOTFOUND');
  });

  it('wraps the real dns.lookup by default', async () => {
    const { err } = await new Promise<{ err: NodeJS.ErrnoException | null }>((resolve) =>
      guardedLookup({ allowPrivate: false })('localhost', {}, (e) => resolve({ err: e })),
    );
    expect(err?.code).toBe('EBLOCKED');
    // dns.lookup itself is accepted as the inner lookup.
    const explicit = guardedLookup({ allowPrivate: true, lookup: dns.lookup });
    const { err: none, address } = await new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
      explicit('localhost', { all: true }, (e, a) => resolve({ err: e, address: a })),
    );
    expect(none).toBeNull();
    expect(address).toEqual(expect.arrayContaining([expect.objectContaining({ address: expect.any(String) })]));
  });
});
