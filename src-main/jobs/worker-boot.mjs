// Worker bootstrap: lets a worker_threads worker run a TypeScript entry through tsx (the checkout
// runs TypeScript directly; a packaged app points workerData.entry at built JavaScript instead).
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
  // A worker's module hooks are its own: let it import .svelte too (the export report renders them).
  const { registerSvelteServer } = await import('../../scripts/svelte-server.mjs');
  registerSvelteServer();
}
await import(workerData.entry);
