import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Model and training tests are CPU-bound; running files one at a time keeps them predictable on 2 cores.
    fileParallelism: false,
  },
});
