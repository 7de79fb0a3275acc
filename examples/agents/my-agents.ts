/**
 * An agents module: plug it in with `AGENTS_MODULE=examples/agents/my-agents.ts npm start`,
 * then create a session with `{"agent": "assistant"}`. Workers run its tools; the API only
 * reads the agents' names and config schemas. Both tools are offline: a calculator, and a
 * "file system" that is an object in the worker's memory, whose `delete_file` needs a
 * person's approval before it runs.
 *
 * The agent calls the server's OpenAI-compatible endpoint (OPENAI_BASE_URL, OPENAI_API_KEY;
 * OPENAI_MODEL unless `model` is set here or in the session's config).
 */
import { z } from 'zod';
import { defineAgent, tool } from '@baton/agents';

/** The example's files, one set per worker process (a real tool would use a real store). */
export const files: Record<string, string> = {
  'notes.txt': 'Buy milk.',
  'report.md': '# Q3\nAll good.',
  'old.log': 'nothing to see',
};

export const calculator = tool({
  name: 'calculator',
  description: 'Computes a op b, for op one of add, subtract, multiply, divide.',
  parameters: z.object({
    op: z.enum(['add', 'subtract', 'multiply', 'divide']),
    a: z.number(),
    b: z.number(),
  }),
  execute: ({ op, a, b }, ctx) => {
    if (op === 'divide' && b === 0) throw new Error('division by zero');
    const value = op === 'add' ? a + b : op === 'subtract' ? a - b : op === 'multiply' ? a * b : a / b;
    // The session's own setting (config.precision at create), checked by configSchema below.
    const precision = typeof ctx.config.precision === 'number' ? ctx.config.precision : 6;
    return Number(value.toFixed(precision));
  },
});

export const listFiles = tool({
  name: 'list_files',
  description: 'Lists the files with their sizes in characters.',
  parameters: z.object({}),
  execute: () => Object.entries(files).map(([path, text]) => ({ path, size: text.length })),
});

export const deleteFile = tool({
  name: 'delete_file',
  description: 'Deletes a file. A person approves each call first.',
  parameters: z.object({ path: z.string().min(1) }),
  needsApproval: true,
  execute: ({ path }, ctx) => {
    // A rerun after a crash comes with the same ctx.toolCallId: deleting twice must be harmless.
    if (!(path in files)) return `${path} does not exist (call ${ctx.toolCallId})`;
    delete files[path];
    return `deleted ${path}`;
  },
});

export const assistant = defineAgent({
  name: 'assistant',
  system: 'You are a careful assistant. Use the calculator for arithmetic. Ask before deleting: the user approves each deletion.',
  model: { temperature: 0 },
  tools: [calculator, listFiles, deleteFile],
  maxSteps: 20,
  configSchema: z.object({ precision: z.int().min(0).max(10).optional() }),
});

export const mathTutor = defineAgent({
  name: 'math-tutor',
  system: 'You teach arithmetic step by step, checking every result with the calculator.',
  tools: [calculator],
});

export default [assistant, mathTutor];
