export * from './catalog.ts';
export * from './turn-queue.ts';
