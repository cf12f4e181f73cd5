// Request validators compiled on a route's first request instead of at start-up. Fastify compiles
// every route's JSON schemas with Ajv while the server starts, and that was about a sixth of the
// time to the first answer; most routes of a registry are rarely called (user management, the
// installer, webhooks). The validator is Fastify's own (@fastify/ajv-compiler, with the options
// the app sets), only called later; its `errors` are passed on as Fastify reads them.
import AjvCompiler from '@fastify/ajv-compiler';

type Factory = ReturnType<typeof AjvCompiler>;
type Compile = ReturnType<Factory>;
type Validate = ReturnType<Compile>;

/** Wraps `eager` (Fastify's default compiler unless a test passes its own). */
export function lazyValidators(eager: Factory = AjvCompiler()): Factory {
  return ((externalSchemas, options) => {
    const compile = eager(externalSchemas, options);
    return (route) => {
      let validate: Validate | undefined;
      const lazy = ((data: unknown) => {
        validate ??= compile(route);
        const result = validate(data);
        lazy.errors = validate.errors;
        return result;
      }) as Validate;
      return lazy;
    };
  }) as Factory;
}
