#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx topiary` works right after `npm ci` with no build step.
import { register } from 'tsx/esm/api';
import { registerSvelteServer } from '../scripts/svelte-server.mjs';

register();
// The HTML export report renders the run detail's Svelte components (src-main/node/export/report-html.ts).
registerSvelteServer();
const { main } = await import('../src-main/cli/main.ts');
process.exitCode = await main(process.argv);
