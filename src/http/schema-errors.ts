// The message of a request that fails its route's JSON schema: Ajv's own wording, with the name of
// an unknown property added (Ajv says only "must NOT have additional properties", which leaves a
// client guessing which of its fields was refused).
import type { FastifySchemaValidationError } from 'fastify';

export function schemaErrorMessage(errors: FastifySchemaValidationError[], dataVar: string): string {
  return errors
    .map((e) => {
      const where = `${dataVar}${e.instancePath}`;
      const unknown = (e.params as { additionalProperty?: unknown }).additionalProperty;
      if (e.keyword === 'additionalProperties' && typeof unknown === 'string')
        return `${where} has an unknown property "${unknown}"`;
      return `${where} ${e.message ?? 'is invalid'}`;
    })
    .join(', ');
}

/** For Fastify's `schemaErrorFormatter` option. */
export function schemaError(errors: FastifySchemaValidationError[], dataVar: string): Error {
  return new Error(schemaErrorMessage(errors, dataVar));
}
