export * from './catalog.ts';
export * from './shards.ts';
export * from './turn-queue.ts';
export * from './webhook-queue.ts';
export * from './canary.ts';
