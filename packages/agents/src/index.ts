export * from './agent.ts';
export * from './echo-agent.ts';
export * from './openai-agent.ts';
export * from './http-agent.ts';
export * from './registry.ts';
