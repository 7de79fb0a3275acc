export * from './free-port.ts';
export * from './wait-until.ts';
export * from './redis-server.ts';
export * from './baton-process.ts';
export * from './redis-cluster.ts';
export * from './reply-dropper.ts';
export * from './fake-openai.ts';
