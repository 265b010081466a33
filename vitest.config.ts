import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // A scenario module's patches import the model by package name (iommu-lab/patch): the source here, as tsconfig's paths say.
    alias: { 'iommu-lab/patch': fileURLToPath(new URL('./api/patch.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Worker-thread tests spawn real threads; two forks match the two cores.
    maxWorkers: 2,
  },
});
