// Node module hooks (registered by registerSvelteServer() in svelte-server.mjs): a `.svelte` file
// loads as the JavaScript `svelte/compiler` makes of it for the server. Everything else passes on
// to the next hook (tsx, then Node).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compileServer } from './svelte-server.mjs';

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.svelte')) return next(url, context);
  const file = fileURLToPath(url);
  return { format: 'module', source: (await compileServer(await readFile(file, 'utf8'), file)).code, shortCircuit: true };
}
