export * from './session-store.ts';
export { defineScripts } from './scripts.ts';
export * from './session-watcher.ts';
export * from './connections.ts';
export * from './session-service.ts';
