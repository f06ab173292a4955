import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// The renderer: one static bundle served by web mode and loaded from file:// by Electron.
export default defineConfig({
  root: 'src-renderer',
  base: './',
  plugins: [svelte()],
  build: { outDir: '../dist-renderer', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
});
