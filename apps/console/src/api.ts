/**
 * The console's calls to Baton's native API, from the same origin (the console is served by
 * the API at `<base>/console/`). The key lives in sessionStorage: this tab only, gone when
 * it closes; it is sent as `Authorization: Bearer`, never in a URL.
 */

const KEY_ITEM = 'baton.console.key';

/** Where the API is: the console's own path without `/console/…` (keeps a proxy's prefix). */
export const apiBase = location.pathname.replace(/\/console(\/.*)?$/, '');

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY_ITEM);
}

/** An API error: its HTTP status and the stable `code` of Baton's error body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function authHeaders(key: string | null = storedKey()): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}

export interface ApiResponse<T> {
  body: T;
  headers: Headers;
  status: number;
}

/** One call; throws ApiError for a non-2xx answer (status 0: Baton could not be reached). */
export async function call<T>(method: string, path: string, options: { body?: unknown; key?: string | null; idempotent?: boolean } = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(options.key === undefined ? storedKey() : options.key) };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  // A POST that changes state carries an Idempotency-Key: a retry of it is stored once.
  if (options.idempotent) headers['idempotency-key'] = newId();
  let res: Response;
  try {
    res = await fetch(apiBase + path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  } catch (err) {
    throw new ApiError(0, 'connection_failed', `Baton could not be reached (${(err as Error).message})`);
  }
  const text = await res.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!res.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, error?.code ?? `http_${res.status}`, error?.message ?? `${method} ${path} answered ${res.status}`);
  }
  return { body: body as T, headers: res.headers, status: res.status };
}

export const get = async <T>(path: string): Promise<T> => (await call<T>('GET', path)).body;

/** A random UUID, also where `crypto.randomUUID` is missing (pages served over plain http to another host). */
export function newId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The native API's shapes are the client package's (checked against the server's own types).
export type { ChatMessage, DeadLetter, Delivery, Interrupt, SessionResponse as Session, SessionStatus as Status, SessionSummary as SessionItem } from '@baton/client';

export interface Ready {
  status: 'ready' | 'not_ready';
  reason?: string;
  message?: string;
  worker_seen_ms_ago: number | null;
  queues?: Record<string, Record<string, number>> | null;
}

export const sessionPath = (id: string) => `/sessions/${encodeURIComponent(id)}`;
