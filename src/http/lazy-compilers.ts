// Fastify's schema compilers, called on a route's first use instead of at start-up. Fastify compiles
// every route's request schemas (Ajv) and response schemas (fast-json-stringify) while the server
// starts: about a sixth, then another ~15 ms, of the time to the first answer, for routes most of
// which a registry rarely serves (user management, the installer, webhooks). The compilers are
// Fastify's own, with the options the app sets, only called later.
import AjvCompiler from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

type ValidatorFactory = ReturnType<typeof AjvCompiler>;
type Validate = ReturnType<ReturnType<ValidatorFactory>>;
type SerializerFactory = ReturnType<typeof SerializerSelector>;
type Serialize = ReturnType<ReturnType<SerializerFactory>>;

/** `factory` with each route's compile put off until `use` first needs the compiled function. */
function deferred<Externals, Options, Route, Fn, Out>(
  factory: (externals: Externals, options: Options) => (route: Route) => Fn,
  use: (compiled: () => Fn) => Out,
): (externals: Externals, options: Options) => (route: Route) => Out {
  return (externals, options) => {
    const compile = factory(externals, options);
    return (route) => {
      let fn: Fn | undefined;
      return use(() => (fn ??= compile(route)));
    };
  };
}

/** Request validators; `errors` are passed on as Fastify reads them. Wraps `eager` (Fastify's
 *  default compiler unless a test passes its own). */
export function lazyValidators(eager: ValidatorFactory = AjvCompiler()): ValidatorFactory {
  return deferred(eager, (compiled) => {
    const lazy = ((data: unknown) => {
      const validate = compiled();
      const result = validate(data);
      lazy.errors = validate.errors;
      return result;
    }) as Validate;
    return lazy;
  }) as ValidatorFactory;
}

/** Response serializers. Wraps `eager` (Fastify's default compiler unless a test passes its own). */
export function lazySerializers(eager: SerializerFactory = SerializerSelector()): SerializerFactory {
  return deferred(
    eager,
    (compiled) => ((data: unknown) => compiled()(data)) as Serialize,
  ) as SerializerFactory;
}
