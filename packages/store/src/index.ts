export * from './session-store.ts';
export { defineScripts } from './scripts.ts';
export * from './session-watcher.ts';
export * from './connections.ts';
export * from './session-service.ts';
export * from './delivery-log.ts';
export * from './webhook-service.ts';
export * from './message-record.ts';
export * from './sandbox-store.ts';
