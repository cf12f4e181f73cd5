// Response serializers compiled on a route's first answer instead of at start-up, like the request
// validators (lazy-validators.ts). Fastify compiles a fast-json-stringify function for every
// response schema of every route when the server gets ready: ~15 ms of a ~320 ms start, for routes
// most of which a registry rarely answers. The serializer is Fastify's own, only built later.
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

type Factory = ReturnType<typeof SerializerSelector>;
type Compile = ReturnType<Factory>;
type Serialize = ReturnType<Compile>;

/** Wraps `eager` (Fastify's default compiler unless a test passes its own). */
export function lazySerializers(eager: Factory = SerializerSelector()): Factory {
  return ((externalSchemas, options) => {
    const compile = eager(externalSchemas, options);
    return (route) => {
      let serialize: Serialize | undefined;
      return ((data: unknown) => (serialize ??= compile(route))(data)) as Serialize;
    };
  }) as Factory;
}
