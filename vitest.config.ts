import { defineConfig } from 'vitest/config';

// One runner for everything: unit tests sit beside the code they test, integration tests
// (real SQLite files, real folders, real daemon processes) under core/**/ *.it.test.ts and
// e2e/. Integration tests spawn the built CLI (dist/), so `npm test` builds first.
export default defineConfig({
  test: {
    include: ['core/**/*.test.ts', 'electron/**/*.test.ts', 'renderer/**/*.test.{ts,tsx}', 'e2e/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores here: more parallel files only fight over them.
    maxWorkers: 2,
    // In CI a JSON report too, from which .ci/run prints the plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-output/vitest.json' },
  },
});
