/**
 * The `topiary` command. Thin: parses arguments, calls app services, prints. Exit codes: 0 success,
 * 1 the work failed, 2 bad usage or bad input. With --json, one JSON document goes to stdout and
 * progress to stderr.
 */
import { Command, CommanderError } from 'commander';
import { TopiaryError } from '../common/errors';
import { defaultDbPath } from '../app/paths';
import type { CliContext } from './context';
import { registerInfoCommand } from './commands/info';
import { registerAnalyzeCommand } from './commands/analyze';
import { registerEvaluateCommand } from './commands/evaluate';
import { registerDemoCommand } from './commands/demo';
import { registerPruneCommand } from './commands/prune';
import { registerExportCommand } from './commands/export';
import { registerWebCommand } from './commands/web';
import { registerRunsCommand } from './commands/runs';
import { registerFitCommand } from './commands/fit';
import { registerProfilesCommand } from './commands/profiles';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('topiary');
  let json = false;
  let db: string | undefined;
  const ctx: CliContext = {
    get json() {
      return json;
    },
    dbPath: () => db ?? defaultDbPath(),
    print: (text) => {
      if (!json) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    printJson: (value) => {
      process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
  };

  program
    .description('Prune, fine-tune, quantize, export and verify neural networks for on-device deployment.')
    .version(process.env.npm_package_version ?? (await import('../app/info-service')).appVersion())
    .option('--json', 'print one JSON document on stdout (progress goes to stderr)')
    .option('--db <file>', 'experiment database (default: $TOPIARY_HOME/topiary.db)')
    .showHelpAfterError()
    .exitOverride()
    .hook('preAction', (thisCommand, actionCommand) => {
      const opts = { ...thisCommand.opts(), ...actionCommand.optsWithGlobals() };
      json = Boolean(opts.json);
      db = opts.db as string | undefined;
    });

  registerInfoCommand(program, ctx);
  registerAnalyzeCommand(program, ctx);
  registerEvaluateCommand(program, ctx);
  registerPruneCommand(program, ctx);
  registerExportCommand(program, ctx);
  registerDemoCommand(program, ctx);
  registerRunsCommand(program, ctx);
  registerFitCommand(program, ctx);
  registerProfilesCommand(program, ctx);
  registerWebCommand(program, ctx);

  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err, json);
  }
}

function reportError(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    // Help and version are "errors" to commander; they already printed.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    return 2;
  }
  const code = err instanceof TopiaryError ? err.exitCode : 1;
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  if (json) {
    process.stdout.write(`${JSON.stringify({ error: { name, message, exitCode: code } }, null, 2)}\n`);
  }
  process.stderr.write(`${name}: ${message}\n`);
  if (!(err instanceof TopiaryError) && err instanceof Error && process.env.TOPIARY_DEBUG) {
    process.stderr.write(`${err.stack}\n`);
  }
  return code;
}
