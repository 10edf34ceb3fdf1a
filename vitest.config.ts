import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{image-service,operator,sandbox,test,bench,scripts,charts}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '.sandbox/**'],
    // Tests spawn real processes (image service, Prometheus, kubectl); forks keep them isolated.
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
