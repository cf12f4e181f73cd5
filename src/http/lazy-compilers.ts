// Fastify's schema compilers, loaded and called on a route's first use instead of at start-up.
// Fastify compiles every route's request schemas (Ajv) and response schemas (fast-json-stringify)
// while the server starts: about a sixth, then another ~15 ms, of the time to the first answer,
// for routes most of which a registry rarely serves (user management, the installer, webhooks).
// The compiler modules themselves (Ajv, its formats, fast-json-stringify: ~45% of the bundled
// server's code) are required on the first compile too: the registry's own routes have no
// schemas, so a node that only serves /v2/ never loads them. The compilers are Fastify's own,
// with the options the app sets, only called later.
import { createRequire } from 'node:module';
import type AjvCompiler from '@fastify/ajv-compiler';
import type { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

type ValidatorFactory = ReturnType<typeof AjvCompiler>;
type Validate = ReturnType<ReturnType<ValidatorFactory>>;
type SerializerFactory = ReturnType<typeof SerializerSelector>;
type Serialize = ReturnType<ReturnType<SerializerFactory>>;

// A plain require, at run time: the bundle (scripts/bundle-server.mjs) leaves both modules out.
const require = createRequire(import.meta.url);
const fastifyValidators = (): ValidatorFactory => (require('@fastify/ajv-compiler') as typeof AjvCompiler)();
const fastifySerializers = (): SerializerFactory =>
  (
    require('@fastify/fast-json-stringify-compiler') as { SerializerSelector: typeof SerializerSelector }
  ).SerializerSelector();

/** A factory made by `load` and each route's compile, both put off until `use` first needs the compiled function. */
function deferred<Externals, Options, Route, Fn, Out>(
  load: () => (externals: Externals, options: Options) => (route: Route) => Fn,
  use: (compiled: () => Fn) => Out,
): (externals: Externals, options: Options) => (route: Route) => Out {
  let factory: ReturnType<typeof load> | undefined;
  return (externals, options) => {
    let compile: ((route: Route) => Fn) | undefined;
    return (route) => {
      let fn: Fn | undefined;
      return use(() => (fn ??= (compile ??= (factory ??= load())(externals, options))(route)));
    };
  };
}

/** Request validators; `errors` are passed on as Fastify reads them. Wraps what `load` makes
 *  (Fastify's default compiler unless a test passes its own). */
export function lazyValidators(load: () => ValidatorFactory = fastifyValidators): ValidatorFactory {
  return deferred(load, (compiled) => {
    const lazy = ((data: unknown) => {
      const validate = compiled();
      const result = validate(data);
      lazy.errors = validate.errors;
      return result;
    }) as Validate;
    return lazy;
  }) as ValidatorFactory;
}

/** Response serializers. Wraps what `load` makes (Fastify's default compiler unless a test passes its own). */
export function lazySerializers(load: () => SerializerFactory = fastifySerializers): SerializerFactory {
  return deferred(
    load,
    (compiled) => ((data: unknown) => compiled()(data)) as Serialize,
  ) as SerializerFactory;
}
