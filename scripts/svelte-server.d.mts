// Types of svelte-server.mjs for the TypeScript configs that import it (vitest.config.ts).
import type { Plugin } from 'vite';
export function compileServer(source: string, filename: string): Promise<{ code: string; map: unknown }>;
export function registerSvelteServer(): void;
export function svelteServerVite(): Plugin;
export function svelteServerEsbuild(): { name: string; setup(build: unknown): void };
