import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every test that starts a server or a child kills it in afterEach; these bound a hang.
    testTimeout: 30_000,
    hookTimeout: 15_000,
    teardownTimeout: 10_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
