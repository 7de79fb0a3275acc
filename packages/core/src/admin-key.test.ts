import { expect, it } from 'vitest';
import { adminKeyCheck } from './admin-key.ts';

const check = adminKeyCheck('the-admin-key');
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

it('accepts the key as a Bearer token or as a Basic password with any user', () => {
  expect(check('Bearer the-admin-key')).toBe(true);
  expect(check('bearer the-admin-key')).toBe(true);
  expect(check(basic('admin', 'the-admin-key'))).toBe(true);
  expect(check(basic('', 'the-admin-key'))).toBe(true);
});

it('refuses anything else', () => {
  for (const header of [
    undefined,
    '',
    'Bearer ',
    'Bearer the-admin-key-2',
    'the-admin-key',
    basic('the-admin-key', ''),
    `Basic ${Buffer.from('the-admin-key').toString('base64')}`,
    'Basic !!!',
  ]) {
    expect(check(header), String(header)).toBe(false);
  }
});
