import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * SSRF rules for webhook targets: which IP addresses a delivery must never reach.
 * Three layers use them: `checkWebhookUrl` (syntax, at the API), `resolveWebhookHost`
 * (DNS, at the API) and `guardedLookup` (the address actually connected to, at delivery,
 * which is the one that defeats DNS rebinding).
 */

type Rule = { reason: string; list: BlockList };

function rules(family: 'ipv4' | 'ipv6', table: [subnet: string, prefix: number, reason: string][]): Rule[] {
  return table.map(([subnet, prefix, reason]) => {
    const list = new BlockList();
    list.addSubnet(subnet, prefix, family);
    return { reason, list };
  });
}

/** Checked in order: the first matching rule names the reason. */
const IPV4_RULES = rules('ipv4', [
  ['0.0.0.0', 32, 'unspecified'],
  ['0.0.0.0', 8, 'this-network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'cgnat'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'], // includes 169.254.169.254, the cloud metadata service
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'], // IETF protocol assignments
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'],
]);

/**
 * IPv6 ranges other than those embedding an IPv4 address (handled by `blockedIPv6`).
 * Anything outside 2000::/3 (global unicast) is refused as 'reserved' afterwards.
 */
const IPV6_RULES = rules('ipv6', [
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['fc00::', 7, 'unique-local'],
  ['ff00::', 8, 'multicast'],
  ['100::', 64, 'discard-only'],
  ['2001:db8::', 32, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['2001::', 32, 'teredo'],
  ['64:ff9b:1::', 48, 'nat64 local-use'],
]);

const IPV6_GLOBAL_UNICAST = rules('ipv6', [['2000::', 3, 'global unicast']])[0]!.list;

function blockedIPv4(ip: string): string | null {
  for (const rule of IPV4_RULES) {
    if (rule.list.check(ip, 'ipv4')) return rule.reason;
  }
  return null;
}

/** The eight 16-bit groups of an IPv6 address already validated by `isIP`. */
function ipv6Groups(ip: string): number[] {
  let text = ip;
  const groups: number[] = [];
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  const tail: number[] = [];
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, dotted.index) + '0:0'; // placeholder groups, replaced below
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  groups.push(...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right);
  if (tail.length) groups.splice(6, 2, ...tail);
  return groups;
}

function ipv4FromGroups(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

function blockedIPv6(ip: string): string | null {
  const g = ipv6Groups(ip);
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const firstFiveZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;

  if (firstFiveZero && g5 === 0) {
    if (g6 === 0 && g7 === 0) return 'unspecified';
    if (g6 === 0 && g7 === 1) return 'loopback';
    // ::/96, deprecated IPv4-compatible addresses: some stacks route them to the IPv4 one.
    return 'ipv4-compatible';
  }
  if (firstFiveZero && g5 === 0xffff) {
    const inner = blockedIPv4(ipv4FromGroups(g6, g7));
    return inner ? `ipv4-mapped ${inner}` : null;
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    const inner = blockedIPv4(ipv4FromGroups(g6, g7));
    return inner ? `nat64 ${inner}` : null;
  }
  if (g0 === 0x2002) {
    // 6to4 embeds the IPv4 address of the site in groups 1-2.
    const inner = blockedIPv4(ipv4FromGroups(g1, g2));
    if (inner) return `6to4 ${inner}`;
  }
  for (const rule of IPV6_RULES) {
    if (rule.list.check(ip, 'ipv6')) return rule.reason;
  }
  if (!IPV6_GLOBAL_UNICAST.check(ip, 'ipv6')) return 'reserved';
  return null;
}

/**
 * Why a webhook must not be delivered to `ip`, or null for a public unicast address.
 * Accepts IPv6 with or without brackets and zone id; anything that is not an IP
 * address is refused as 'not an ip address' (fail closed).
 */
export function blockedAddressReason(ip: string): string | null {
  let text = ip.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  switch (isIP(text)) {
    case 4:
      return blockedIPv4(text);
    case 6:
      return blockedIPv6(text.toLowerCase());
    default:
      return 'not an ip address';
  }
}

export type WebhookUrlCheck =
  | { ok: true; url: URL }
  | { ok: false; code: 'webhook_url_invalid' | 'webhook_url_refused'; reason: string };

/** The hostname without IPv6 brackets or a trailing dot. */
function bareHostname(hostname: string): string {
  let host = hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.toLowerCase();
}

/**
 * Syntactic checks of a webhook URL (no DNS): http(s), no credentials, a hostname, and
 * no blocked IP literal or `localhost`. The WHATWG parser already normalises IPv4 forms
 * such as `0x7f.1` or `2130706433` to dotted quads, so those are judged too.
 */
export function checkWebhookUrl(raw: string): WebhookUrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, code: 'webhook_url_invalid', reason: 'not a valid absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, code: 'webhook_url_invalid', reason: `protocol ${url.protocol} is not allowed; use http or https` };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, code: 'webhook_url_invalid', reason: 'credentials in the URL are not allowed' };
  }
  const host = bareHostname(url.hostname);
  if (host === '') {
    return { ok: false, code: 'webhook_url_invalid', reason: 'the URL has no hostname' };
  }
  if (host === 'localhost' || host.endsWith('.localhost')) {
    return { ok: false, code: 'webhook_url_refused', reason: `${host} is loopback` };
  }
  if (isIP(host) !== 0) {
    const reason = blockedAddressReason(host);
    if (reason) return { ok: false, code: 'webhook_url_refused', reason: `${host} is ${reason}` };
  }
  return { ok: true, url };
}

export type LookupAll = (hostname: string) => Promise<{ address: string; family: number }[]>;

export type WebhookHostResolution =
  | { ok: true; addresses: string[] }
  | { ok: false; code: 'webhook_url_refused' | 'webhook_url_unresolvable'; reason: string };

const defaultLookupAll: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true });

/**
 * Resolves every address of `hostname` and refuses it if ANY is blocked. `ENOTFOUND`
 * (or an empty answer) is unresolvable; other DNS failures (EAI_AGAIN, timeouts) are
 * let through with no addresses, since `guardedLookup` checks again at delivery.
 * Accepts IP literals (with or without brackets) and judges them directly.
 */
export async function resolveWebhookHost(
  hostname: string,
  lookup: LookupAll = defaultLookupAll,
): Promise<WebhookHostResolution> {
  const host = bareHostname(hostname);
  if (isIP(host) !== 0) {
    const reason = blockedAddressReason(host);
    return reason ? { ok: false, code: 'webhook_url_refused', reason: `${host} is ${reason}` } : { ok: true, addresses: [host] };
  }
  let answers: { address: string; family: number }[];
  try {
    answers = await lookup(host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException | null)?.code === 'ENOTFOUND') {
      return { ok: false, code: 'webhook_url_unresolvable', reason: `${host} does not resolve` };
    }
    return { ok: true, addresses: [] };
  }
  if (answers.length === 0) {
    return { ok: false, code: 'webhook_url_unresolvable', reason: `${host} has no addresses` };
  }
  for (const { address } of answers) {
    const reason = blockedAddressReason(address);
    if (reason) {
      return { ok: false, code: 'webhook_url_refused', reason: `${host} resolves to ${address}, which is ${reason}` };
    }
  }
  return { ok: true, addresses: answers.map((a) => a.address) };
}

/** The error a guarded lookup fails the connection with. */
export class BlockedAddressError extends Error {
  override readonly name = 'BlockedAddressError';
  readonly code = 'EBLOCKED';
  constructor(
    readonly hostname: string,
    readonly address: string,
    readonly reason: string,
  ) {
    super(`refusing to connect to ${address} (${hostname}): ${reason}`);
  }
}

/**
 * A `lookup` for `http.request` / `net.connect` that resolves with `lookup` (default
 * `dns.lookup`) and fails with an `EBLOCKED` error when any resolved address is blocked,
 * unless `allowPrivate`. It always asks the inner lookup for all addresses, so a name
 * with one private address among public ones is refused whichever Node would pick, and
 * answers in the form it was asked for: an array when `options.all` (Node 20's
 * autoSelectFamily path), else one address and its family.
 *
 * `lookup` is typed as `net.LookupFunction`, which `dns.lookup` satisfies.
 */
export function guardedLookup(options: { allowPrivate: boolean; lookup?: LookupFunction }): LookupFunction {
  const inner: LookupFunction = options.lookup ?? (dns.lookup as LookupFunction);
  return (hostname, lookupOptions, callback) => {
    const wantsAll = lookupOptions?.all === true;
    inner(hostname, { ...lookupOptions, all: true }, (err, result, family) => {
      if (err) {
        callback(err, wantsAll ? [] : '', 0);
        return;
      }
      const addresses: dns.LookupAddress[] =
        typeof result === 'string' ? [{ address: result, family: family ?? isIP(result) }] : result;
      if (!options.allowPrivate) {
        for (const { address } of addresses) {
          const reason = blockedAddressReason(address);
          if (reason) {
            callback(new BlockedAddressError(hostname, address, reason), wantsAll ? [] : '', 0);
            return;
          }
        }
      }
      const first = addresses[0];
      if (!first) {
        const notFound: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
          code: 'ENOTFOUND',
          hostname,
        });
        callback(notFound, wantsAll ? [] : '', 0);
        return;
      }
      if (wantsAll) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}
