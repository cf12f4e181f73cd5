// The web UI's build: `vite build web` (part of `npm run build` and `prepare`) writes hashed
// assets to dist/web, which the server serves at `/`. No React plugin: Vite's own transform
// compiles JSX with the automatic runtime; fast refresh is a dev-server nicety we do without.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic' } },
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
