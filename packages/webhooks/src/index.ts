export * from './signature.ts';
export * from './address.ts';
export * from './schedule.ts';
export * from './send.ts';
export * from './log-url.ts';
export * from './breaker.ts';
