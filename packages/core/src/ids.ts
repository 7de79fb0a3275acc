import { randomUUID } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function newSessionId(): string {
  return randomUUID();
}

export function newTurnId(): string {
  return randomUUID();
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
