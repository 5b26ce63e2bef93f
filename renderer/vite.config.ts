/**
 * Builds the UI into dist/renderer/ with relative asset paths, so the same files load in
 * Electron from file: and from the daemon over HTTP at any port.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  plugins: [react()],
  // Nothing to copy verbatim: the icon is imported, so it is hashed with the bundle.
  publicDir: false,
  build: {
    outDir: path.resolve(here, '../dist/renderer'),
    emptyOutDir: true,
    sourcemap: false,
    // Electron 45 is Chromium 140; the daemon's users have current browsers.
    target: 'es2022',
    reportCompressedSize: false,
  },
  server: {
    host: '127.0.0.1',
    strictPort: false,
  },
});
