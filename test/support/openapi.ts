import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenApiDocument } from '@baton/core';
import type { JsonResponse } from './baton.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const BASE = 'https://baton.test/openapi';

type Responses = OpenApiDocument['paths'][string][string]['responses'];

/**
 * Checks real responses against the served OpenAPI document: the status must be documented
 * for the operation and the body must match that status's schema (JSON Schema 2020-12, ajv).
 * Records what it checked, so a test can tell which documented responses it has seen.
 */
export class SpecChecker {
  readonly seen = new Set<string>();
  private readonly ajv = addFormats(new Ajv2020({ strict: true, allErrors: true }));
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly doc: OpenApiDocument;

  constructor(doc: OpenApiDocument) {
    // Component refs point into the document; make them absolute refs into one registered schema.
    const text = JSON.stringify(doc).replaceAll('"#/components/schemas/', `"${BASE}#/$defs/`);
    this.doc = JSON.parse(text) as OpenApiDocument;
    this.ajv.addSchema({ $id: BASE, $defs: this.doc.components.schemas });
  }

  /** `METHOD path` of every documented operation. */
  get operations(): string[] {
    return Object.entries(this.doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
  }

  /** Every documented `METHOD path status`. */
  get responses(): string[] {
    return this.operations.flatMap((op) => Object.keys(this.responsesOf(op)).map((status) => `${op} ${status}`));
  }

  private responsesOf(op: string): Responses {
    const [method, path] = op.split(' ') as [string, string];
    const operation = this.doc.paths[path]?.[method.toLowerCase()];
    if (!operation) throw new Error(`${op} is not in the OpenAPI document`);
    return operation.responses;
  }

  /**
   * Problems with `res` as an answer of `op` (e.g. `GET /sessions/{id}`): [] when the status is
   * documented and the content type and body match the document.
   */
  problems(op: string, res: JsonResponse): string[] {
    const reply = this.responsesOf(op)[String(res.status)];
    if (!reply) return [`${op}: status ${res.status} is not documented (body ${JSON.stringify(res.body)})`];
    this.seen.add(`${op} ${res.status}`);
    const contentType = res.headers.get('content-type') ?? '';
    if (!reply.content) return res.body === undefined ? [] : [`${op} ${res.status}: documented without a body, got ${JSON.stringify(res.body)}`];
    const [type, media] = Object.entries(reply.content)[0]!;
    if (!contentType.startsWith(type)) return [`${op} ${res.status}: content-type ${contentType}, documented ${type}`];
    if (type !== 'application/json') return typeof res.body === 'string' ? [] : [`${op} ${res.status}: expected text`];
    const key = `${op} ${res.status}`;
    let validate = this.compiled.get(key);
    if (!validate) this.compiled.set(key, (validate = this.ajv.compile(media.schema)));
    if (validate(res.body)) return [];
    return (validate.errors ?? []).map((e) => `${key}: ${e.instancePath || '(body)'} ${e.message} ${JSON.stringify(e.params)}`);
  }
}
