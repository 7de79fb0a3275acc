export * from './errors.ts';
export * from './schemas.ts';
export * from './keys.ts';
export * from './ids.ts';
export * from './fault-points.ts';
export * from './config.ts';
