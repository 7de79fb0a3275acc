export * from './client.ts';
export { BatonError } from './errors.ts';
export * from './sse.ts';
export type { StreamOptions } from './stream.ts';
export type * from './types.ts';
