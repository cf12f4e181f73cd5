// The web UI's build: `vite build web` (part of `npm run build` and `prepare`) writes hashed
// assets to dist/web, which the server serves at `/`. No React plugin: Vite's own transform
// compiles JSX with the automatic runtime; fast refresh is a dev-server nicety we do without.
// Always React's production build, whatever NODE_ENV the caller has: vitest sets it to `test`, and
// Vite would then bundle React's development build and JSX's development runtime (541 KB,
// StrictMode effects run twice). Each text asset is also written precompressed (.br, .gz) for the
// server to pick by Accept-Encoding.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

const COMPRESSIBLE = /\.(js|css|html|svg|json|txt|map)$/;

/** Writes NAME.br and NAME.gz beside every compressible file of the output, when smaller. */
function precompress(): Plugin {
  let outDir = '';
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
  return {
    name: 'opencloud-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      for (const file of walk(outDir).filter((f) => COMPRESSIBLE.test(f))) {
        const raw = readFileSync(file);
        const br = brotliCompressSync(raw, {
          params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
        });
        const gz = gzipSync(raw, { level: 9 });
        if (br.length < raw.length) writeFileSync(`${file}.br`, br);
        if (gz.length < raw.length) writeFileSync(`${file}.gz`, gz);
      }
    },
  };
}

export default defineConfig({
  base: '/',
  mode: 'production',
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  oxc: { jsx: { runtime: 'automatic', development: false } },
  plugins: [precompress()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
  },
  // `npx vite web` for working on the UI: the API comes from a server on the default address.
  server: {
    proxy: Object.fromEntries(['/api', '/v2', '/auth'].map((p) => [p, 'http://127.0.0.1:5000'])),
  },
});
