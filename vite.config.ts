import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const page = (name: string): string => fileURLToPath(new URL(`./src-renderer/${name}`, import.meta.url));

// The renderer: one static bundle served by web mode and loaded from file:// by Electron.
export default defineConfig({
  root: 'src-renderer',
  base: './',
  plugins: [svelte()],
  build: {
    outDir: '../dist-renderer',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    // gpu.html: the GPU engine window (src-main/gpu/), its own bundle with tfjs; the app's stays tfjs-free.
    rollupOptions: { input: { main: page('index.html'), gpu: page('gpu.html') } },
  },
});
