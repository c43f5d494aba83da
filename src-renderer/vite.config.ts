import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig, type Plugin } from 'vite';

const here = (relative: string): string => fileURLToPath(new URL(relative, import.meta.url));

/**
 * The page's CSP forbids inline styles, but the dev server injects CSS through
 * <style> tags and talks HMR over its own socket; relax the policy only there.
 */
function relaxCspForDevServer(): Plugin {
  return {
    name: 'mien-relax-csp-for-dev-server',
    apply: 'serve',
    transformIndexHtml(html) {
      return html
        .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
        .replace("connect-src 'self'", "connect-src 'self' ws: http://127.0.0.1:*");
    },
  };
}

// `MIEN_HOST=http://127.0.0.1:PORT npm run dev:renderer` proxies the backend of a running `npm run host`.
const backend = process.env.MIEN_HOST;

export default defineConfig({
  root: here('.'),
  // Relative asset URLs, so the build loads from file:// or a custom protocol as well as over http.
  base: './',
  plugins: [svelte(), relaxCspForDevServer()],
  build: {
    outDir: here('../out/renderer'),
    emptyOutDir: true,
    // Inlined assets would become data: URLs, which the CSP does not allow.
    assetsInlineLimit: 0,
    target: 'chrome130',
    sourcemap: true,
  },
  server: {
    host: '127.0.0.1',
    proxy: backend
      ? {
          '/ws': { target: backend, ws: true },
          '/photo': { target: backend },
        }
      : undefined,
  },
});
