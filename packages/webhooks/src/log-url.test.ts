import { describe, expect, it } from 'vitest';
import { logSafeUrl } from './log-url.ts';

describe('logSafeUrl', () => {
  it('keeps scheme, host and port; hides the path and drops the query and fragment', () => {
    expect(logSafeUrl('https://hooks.example.com/services/T0/B0/s3cr3t?token=abc#x')).toBe('https://hooks.example.com/…');
    expect(logSafeUrl('http://127.0.0.1:8080/hook')).toBe('http://127.0.0.1:8080/…');
    expect(logSafeUrl('http://[::1]:9000/a?b=c')).toBe('http://[::1]:9000/…');
    expect(logSafeUrl('https://example.com/?token=abc')).toBe('https://example.com/');
    expect(logSafeUrl('https://example.com')).toBe('https://example.com/');
  });

  it('never shows credentials, and says so when the text is no URL', () => {
    expect(logSafeUrl('https://user:pass@example.com/x')).toBe('https://example.com/…');
    expect(logSafeUrl('not a url /secret')).toBe('(not a URL)');
  });
});
