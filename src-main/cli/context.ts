import type { Command } from 'commander';

/** What every CLI command needs from the front door: output mode, the store location, printing. */
export interface CliContext {
  /** `--json`: one JSON document on stdout, progress on stderr. */
  json: boolean;
  /** Path of the experiment database (`--db`, else `$TOPIARY_HOME/topiary.db`). */
  dbPath(): string;
  /** Human-readable output (stdout). Suppressed in --json mode. */
  print(text: string): void;
  /** The one JSON document of a --json run. */
  printJson(value: unknown): void;
}

export type RegisterCommand = (program: Command, ctx: CliContext) => void;
