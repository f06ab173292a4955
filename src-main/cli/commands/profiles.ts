import fs from 'node:fs';
import { ConfigError } from '../../common/errors';
import { checkOutputFile } from '../../node/output-paths';
import type { RegisterCommand } from '../context';
import { bytes, table } from '../format';

export const registerProfilesCommand: RegisterCommand = (program, ctx) => {
  const cmd = program.command('profiles').description('device profiles: list, show, import, export, duplicate, delete');
  const withProfiles = async <T>(fn: (p: import('../../app/profile-service').ProfileService) => T): Promise<T> => {
    const { withProfileService } = await import('../../app/profile-service');
    return withProfileService(ctx.dbPath(), fn);
  };

  cmd
    .command('list')
    .description('built-in and user profiles')
    .action(() =>
      withProfiles((p) => {
        const list = p.list();
        if (ctx.json) return ctx.printJson(list);
        ctx.print(
          table(
            ['id', 'class', 'runtime', 'RAM', 'storage', 'latency', 'kind', 'name'],
            list.map((x) => [x.id, x.class, x.runtime, bytes(x.ramBytes), bytes(x.storageBytes), `${x.latencyTargetMs} ms`, x.builtin ? 'built-in' : 'user', x.name]),
          ),
        );
      }),
    );

  cmd
    .command('show')
    .argument('<id>')
    .description('the full profile, with the sources of its numbers')
    .action((id: string) =>
      withProfiles((p) => {
        const profile = p.get(id);
        if (ctx.json) return ctx.printJson(profile);
        ctx.print(`${profile.name} (${profile.id}, ${profile.builtin ? 'built-in' : 'user'})`);
        if (profile.description) ctx.print(profile.description);
        ctx.print(
          table(
            ['field', 'value'],
            [
              ['class', profile.class],
              ['runtime', `${profile.runtime}, ${profile.threads} thread(s)`],
              ['RAM (tensor arena)', bytes(profile.ramBytes)],
              ['storage', `${bytes(profile.storageBytes)} (${profile.storageMeasure})`],
              ['latency target', `${profile.latencyTargetMs} ms`],
              ['reference MAC/s', profile.referenceMacsPerSecond.toExponential(2)],
              ['numeric types', `preferred ${profile.numericTypes.preferred.join(', ')}; allowed ${profile.numericTypes.allowed.join(', ')}`],
              ['export formats', profile.exportFormats.join(', ')],
              ['supported ops', profile.supportedOps.join(' ')],
            ],
          ),
        );
        if (profile.sources.length) {
          ctx.print('\nSources (approximations unless stated):');
          for (const s of profile.sources) ctx.print(`- ${s.field}: ${s.note}${s.url ? ` <${s.url}>` : ''}`);
        }
      }),
    );

  cmd
    .command('import')
    .argument('<file>', 'profile JSON')
    .option('--replace', 'overwrite a user profile with the same id')
    .description('validate and store a profile from a JSON file')
    .action(async (file: string, o: { replace?: boolean }) => {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new ConfigError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      await withProfiles((p) => {
        const profile = p.importJson(text, file, { replace: o.replace });
        if (ctx.json) return ctx.printJson(profile);
        ctx.print(`imported profile ${profile.id} (${profile.name})`);
      });
    });

  cmd
    .command('export')
    .argument('<id>')
    .option('--out <file>', 'write to a file instead of stdout')
    .description('print (or write) a profile as JSON that import reads back')
    .action((id: string, o: { out?: string }) =>
      withProfiles((p) => {
        if (o.out) checkOutputFile(o.out, '--out');
        const text = p.exportJson(id);
        if (o.out) {
          fs.writeFileSync(o.out, text);
          if (ctx.json) return ctx.printJson({ id, file: o.out });
          return ctx.print(`wrote ${o.out}`);
        }
        process.stdout.write(text);
      }),
    );

  cmd
    .command('duplicate')
    .argument('<id>')
    .argument('[new-id]')
    .option('--name <name>', 'name of the copy')
    .description('copy a profile (built-ins can only be changed this way)')
    .action((id: string, newId: string | undefined, o: { name?: string }) =>
      withProfiles((p) => {
        const copy = p.duplicate(id, newId, o.name);
        if (ctx.json) return ctx.printJson(copy);
        ctx.print(`created ${copy.id} from ${id}; edit it with \`topiary profiles export ${copy.id} --out f.json\`, then \`topiary profiles import f.json --replace\``);
      }),
    );

  cmd
    .command('delete')
    .argument('<id>')
    .description('delete a user profile (runs that used it keep its id)')
    .action((id: string) =>
      withProfiles((p) => {
        const r = p.delete(id);
        if (ctx.json) return ctx.printJson({ id, ...r });
        ctx.print(`deleted ${id}${r.keptForRuns ? ` (${r.keptForRuns} run(s) keep the reference)` : ''}`);
      }),
    );
};
