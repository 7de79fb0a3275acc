/**
 * Every failed call throws a BatonError: `status`, `code`, `message` and `details` come
 * from the API's `{"error": {code, message, details}}` body. When Baton could not be
 * reached at all, `status` is 0 and `code` is `connection_failed`.
 */
export class BatonError extends Error {
  override readonly name = 'BatonError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown; retryAfterS?: number },
  ) {
    super(message, options);
    if (options?.retryAfterS !== undefined) this.retryAfterS = options.retryAfterS;
  }

  /** The answer's `Retry-After`, in seconds, when it had one (`503`, `429`, `409 idempotency_key_in_flight`). */
  readonly retryAfterS?: number;
}

/** The BatonError for a non-2xx answer, from its `{error: {...}}` body when it has one. */
export async function errorFromResponse(res: Response): Promise<BatonError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  const retryAfter = Number(res.headers.get('retry-after') ?? NaN);
  const options = Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterS: retryAfter } : {};
  if (error && typeof error === 'object' && typeof error.code === 'string') {
    const message = typeof error.message === 'string' ? error.message : error.code;
    return new BatonError(res.status, error.code, message, error.details, options);
  }
  const snippet = text.trim().slice(0, 200);
  return new BatonError(res.status, `http_${res.status}`, `HTTP ${res.status}${snippet ? `: ${snippet}` : ''}`);
}

/** A fetch that failed before any answer (refused, DNS, reset), not an abort. */
export function connectionError(url: string, err: unknown): BatonError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
  return new BatonError(0, 'connection_failed', `Could not reach Baton at ${url}: ${reason}`, undefined, { cause: err });
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  const name = (err as { name?: string } | null)?.name;
  return signal?.aborted === true || name === 'AbortError' || name === 'TimeoutError';
}
