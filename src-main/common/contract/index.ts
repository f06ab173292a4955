/**
 * The one API contract between the front doors (Electron window, web mode, CLI) and the services:
 * every command with its payload schema (commands.ts) and reply type (results.ts), the run records
 * those replies carry (records.ts, history.ts), and every pushed event with its payload
 * (events.ts). The Electron main process, the preload, the web server, the CLI and the renderer
 * import it from here; nobody invents a command or channel name elsewhere.
 */
import type { CommandName } from './commands';
import type { CommandResults } from './results';

export * from './commands';
export * from './events';
export type * from './records';
export { RUN_STATUSES, TERMINAL_STATUSES } from './records';
export type * from './history';
export type * from './receipts';
export type * from './deploy';
export type * from './results';
export { BACKEND_NAMES } from './results';

/** What command `C` answers with. */
export type CommandResult<C extends CommandName> = CommandResults[C];
export type * from './classes';
export type * from './gpu';
export { GPU_BACKEND_NAMES } from './gpu';
export type * from './settings';
