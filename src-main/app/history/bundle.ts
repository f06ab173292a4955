/**
 * The run bundle format (`topiary-run-bundle` v1): runs with everything needed to recreate them in
 * another history, and the artifact files that travelled with them. `RunBundleSchema` is what a
 * bundle read from disk must satisfy before anything is imported; its messages name the field
 * (`runs[0].run.id "../x" is not a valid run id`).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, inFile } from '../../common/errors';
import type { RunBundle } from '../../common/contract';

/** Run ids name the folder a run's artifacts are copied to, so they must be one plain path segment. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const isSafeRelative = (rel: string) => !path.isAbsolute(rel) && !rel.split(/[\\/]/).includes('..');

const mustBeArray = { error: 'must be an array' };

/** What import reads of a bundled run; the rest of its RunDetail travels as it is. */
const BundledRunSchema = z
  .object(
    {
    id: z
      .string({ error: 'is missing' })
      .min(1, { error: 'is missing' })
      .refine((id) => RUN_ID.test(id) && !id.includes('..'), { error: (iss) => `${JSON.stringify(iss.input)} is not a valid run id` }),
    // A missing model reads as its missing sha256, the field import matches models by.
    model: z.preprocess((m) => (m !== null && typeof m === 'object' ? m : {}), z.object({ sha256: z.string({ error: 'is missing' }) }).loose()),
    config: z.record(z.string(), z.unknown(), { error: 'must be an object' }),
    metrics: z.array(z.unknown(), mustBeArray),
    layers: z.array(z.unknown(), mustBeArray),
    artifacts: z.array(z.object({}).loose(), mustBeArray),
    tags: z.array(z.unknown(), mustBeArray),
    },
    { error: 'is missing' },
  )
  .loose();

const BundleEntrySchema = z
  .object(
    {
    run: BundledRunSchema,
    // A bundle must not write outside its own folder when read.
    artifactFiles: z.array(
      z
        .string({ error: (iss) => `has an unsafe path ${JSON.stringify(iss.input)}` })
        .refine(isSafeRelative, { error: (iss) => `has an unsafe path ${JSON.stringify(iss.input)}` })
        .nullable(),
      { error: 'must list one entry per artifact' },
    ),
    },
    { error: 'must be {run, artifactFiles}' },
  )
  .refine((e) => e.artifactFiles.length === e.run.artifacts.length, { error: 'must list one entry per artifact', path: ['artifactFiles'] });

export const RunBundleSchema = z.object({
  format: z.literal('topiary-run-bundle', { error: (iss) => `not a Topiary run bundle (format is ${JSON.stringify(iss.input)})` }),
  version: z.literal(1, { error: (iss) => `run bundle version ${String(iss.input)} is not supported (expected 1)` }),
  exportedAt: z.string().optional(),
  host: z.string().optional(),
  runs: z.array(BundleEntrySchema, { error: 'run bundle has no runs array' }),
});

/**
 * `runs[0].run.id is missing`: the issue's path in the bundle, then its rule. Whole-bundle rules
 * (format, version, runs) are sentences of their own. An unsafe artifact path is reported on its
 * list (`runs[0].artifactFiles has an unsafe path "../x"`), not its index.
 */
function describe(issue: z.core.$ZodIssue): string {
  if (issue.path.length === 0 || (issue.path.length === 1 && ['format', 'version', 'runs'].includes(String(issue.path[0])))) return issue.message;
  const p = issue.path[2] === 'artifactFiles' ? issue.path.slice(0, 3) : issue.path;
  const where = p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
  return `${where} ${issue.message}`;
}

/**
 * Reads and checks a bundle file; ConfigError naming the file and the first problem.
 * @example readBundle('/tmp/share/bundle.json').runs.length
 */
export function readBundle(file: string): RunBundle {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(inFile(file, `cannot read the run bundle (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`), { file, cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(inFile(file, `run bundle is not valid JSON: ${(err as Error).message}`), { file, cause: err });
  }
  const r = RunBundleSchema.safeParse(data);
  if (!r.success) throw new ConfigError(inFile(file, describe(r.error.issues[0])), { file });
  // The schema checked what import relies on; the rest of each RunDetail is carried as written.
  return data as RunBundle;
}

export function orderParentsFirst(entries: RunBundle['runs']): RunBundle['runs'] {
  const byId = new Map(entries.map((e) => [e.run.id, e]));
  const out: RunBundle['runs'] = [];
  const done = new Set<string>();
  const visit = (e: RunBundle['runs'][number], depth: number) => {
    if (done.has(e.run.id) || depth > entries.length) return;
    const parent = e.run.parentRunId ? byId.get(e.run.parentRunId) : undefined;
    if (parent) visit(parent, depth + 1);
    if (!done.has(e.run.id)) {
      done.add(e.run.id);
      out.push(e);
    }
  };
  for (const e of entries) visit(e, 0);
  return out;
}

/** The first symlink at or below `p` (depth first), or undefined when the tree has none. */
export function firstSymlink(p: string): string | undefined {
  const stat = fs.lstatSync(p);
  if (stat.isSymbolicLink()) return p;
  if (!stat.isDirectory()) return undefined;
  for (const name of fs.readdirSync(p)) {
    const found = firstSymlink(path.join(p, name));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The last component of a path written on any OS, never empty, `.` or `..`. */
export function plainBaseName(p: string): string {
  const base = String(p).split(/[\\/]/).pop() ?? '';
  return base === '' || base === '.' || base === '..' ? 'artifact' : base;
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
