import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Worker-thread tests spawn real threads; two forks match the two cores.
    maxWorkers: 2,
  },
});
