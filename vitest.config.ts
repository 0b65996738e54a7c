import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every test that starts a server or a child kills it in afterEach; these bound a hang.
    testTimeout: 30_000,
    hookTimeout: 15_000,
    teardownTimeout: 10_000,
    pool: 'forks',
    // Started as root, the server wants --user NAME. The suites run as root in CI and keep
    // root on purpose (test/privileges.test.ts runs it with --user nobody and unset).
    env: process.getuid?.() === 0 ? { POSIX_CHAT_USER: 'root' } : {},
    maxWorkers: 2,
  },
});
