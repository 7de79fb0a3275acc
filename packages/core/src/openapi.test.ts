import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, openApiDocument } from './openapi.ts';
import { SessionResponse } from './responses.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const doc = openApiDocument({ pageLimitMax: 120, longPollDefaultS: 30, longPollMaxS: 60 });
const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ path, method, op })),
);

describe('openApiDocument', () => {
  it('is a valid OpenAPI 3.1 document (checked against the official schema)', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // The validator does reject a broken document.
    const { info: _info, ...broken } = structuredClone(doc);
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('compiles every schema with a strict JSON Schema 2020-12 validator, every $ref resolving', () => {
    const ajv = addFormats(new Ajv2020({ strict: true, allErrors: true }));
    const base = 'https://baton.test/openapi';
    const text = JSON.stringify(doc).replaceAll('"#/components/schemas/', `"${base}#/$defs/`);
    const rewritten = JSON.parse(text) as typeof doc;
    ajv.addSchema({ $id: base, $defs: rewritten.components.schemas });
    let compiled = 0;
    for (const methods of Object.values(rewritten.paths)) {
      for (const op of Object.values(methods)) {
        for (const reply of Object.values(op.responses)) {
          for (const { schema } of Object.values(reply.content ?? {})) {
            ajv.compile(schema);
            compiled++;
          }
        }
      }
    }
    expect(compiled).toBeGreaterThan(40);
  });

  it('generates schemas from the zod schemas: SessionResponse requires every field it has (but `interrupts`, shown only while interrupted)', () => {
    const schema = doc.components.schemas.SessionResponse as { required: string[]; additionalProperties: boolean };
    expect(schema.required.sort()).toEqual(Object.keys(SessionResponse.shape).filter((k) => k !== 'interrupts').sort());
    expect(schema.additionalProperties).toBe(false);
    // Request bodies are input schemas: fields with defaults are optional.
    expect(doc.components.schemas.MessageRequest).not.toHaveProperty('required');
  });

  it('reflects the server limits: the list limit is capped at PAGE_LIMIT_MAX', () => {
    const list = doc.paths['/sessions']!.get as unknown as { parameters: { name: string; schema: { maximum: number } }[] };
    expect(list.parameters.find((p) => p.name === 'limit')?.schema.maximum).toBe(120);
    expect(JSON.stringify(doc.paths['/sessions/{id}']!.get)).toContain('capped at 60');
  });

  it('marks /health, /ready, the docs and /console/ public, /metrics admin-only when ADMIN_KEY is set, everything else bearer-protected (401)', () => {
    expect(doc.security).toEqual([{ bearer: [] }]);
    const open = operations.filter(({ op }) => Array.isArray(op.security) && op.security.length === 0).map(({ path }) => path);
    expect(open.sort()).toEqual(['/console/', '/docs', '/docs/surfaces/{page}', '/health', '/openapi.json', '/ready']);
    expect(doc.paths['/metrics']!.get!.security).toEqual([{}, { admin: [] }]);
    for (const { path, op } of operations) {
      if (!open.includes(path)) expect(op.responses, path).toHaveProperty('401');
    }
  });

  it('gives every operation a success response and documents each error code under its own status', () => {
    for (const { path, method, op } of operations) {
      expect(Object.keys(op.responses).some((s) => s.startsWith('2')), `${method} ${path}`).toBe(true);
      for (const [status, reply] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        if (path === '/ready') continue; // its 503 is a readiness answer, not an error body
        const codes = (reply.content!['application/json']!.schema as any).allOf[1].properties.error.properties.code.enum as string[];
        for (const code of codes) expect(ERROR_CODES[code as keyof typeof ERROR_CODES].status).toBe(Number(status));
      }
    }
  });
});
