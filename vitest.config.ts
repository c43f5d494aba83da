import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Compiles the renderer's runes (.svelte.ts state classes) for its unit tests, as the browser runs them
  // (vitest's node environment would otherwise get Svelte's server output, which has no reactivity).
  plugins: [svelte({ dynamicCompileOptions: () => ({ generate: 'client' }) })],
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Model and training tests are CPU-bound; running files one at a time keeps them predictable on 2 cores.
    fileParallelism: false,
  },
});
