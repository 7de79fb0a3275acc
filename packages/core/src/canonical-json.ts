/**
 * JSON text of a parsed JSON value with every object's keys in sorted order (arrays keep
 * theirs), so two bodies that differ only in key order give the same text. Used for the
 * Idempotency-Key fingerprint. Keys are written as text, never set on an object, so a
 * `__proto__` key is just a key.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  const parts = keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${parts.join(',')}}`;
}
