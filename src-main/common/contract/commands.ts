/**
 * Every command a front door may call, with the zod schema its payload is validated against (the
 * reply types are in results.ts). Payloads come from the renderer, HTTP or the command line, so
 * they are parsed at the boundary: the services receive `CommandPayload<C>`, defaults applied.
 */
import { z } from 'zod';
import { ExportRequestSchema, RunConfigSchema } from '../run-config';
import { NUMERIC_TYPES } from '../profiles';
import { INPUT_SCALES, RESIZE_MODES } from '../input-prep';
import { RUN_STATUSES } from './records';
import { SettingsPatchSchema } from '../settings';

export { describeIssues } from '../errors';

const RunId = z.string().min(1).max(100);
const Spec = z.string().min(1).max(4096);
const ProfileId = z.string().min(1).max(200);

export const RunQuerySchema = z.object({
  model: z.string().max(4096).optional(),
  dataset: z.string().max(4096).optional(),
  profile: z.string().max(200).optional(),
  kind: z.string().max(100).optional(),
  method: z.string().max(100).optional(),
  status: z.union([z.enum(RUN_STATUSES), z.array(z.enum(RUN_STATUSES))]).optional(),
  tag: z.union([z.string().max(64), z.array(z.string().max(64))]).optional(),
  /** ISO dates: createdAt >= since, < until. */
  since: z.string().optional(),
  until: z.string().optional(),
  /** Final-metric thresholds, e.g. {name: 'accuracy', op: '>=', value: 0.9}. */
  metrics: z.array(z.object({ name: z.string().min(1), op: z.enum(['>=', '<=', '>', '<', '=']), value: z.number() })).optional(),
  ids: z.array(RunId).max(1000).optional(),
  /** Free-text search over name, tags, note, model, dataset, method, kind and profile. */
  text: z.string().max(500).optional(),
  sort: z.string().regex(/^(created|started|finished|duration|status|method|kind|name|profile|metric:[A-Za-z0-9_.-]+)$/).optional(),
  direction: z.enum(['asc', 'desc']).optional(),
  limit: z.number().int().positive().max(1000).default(50),
  offset: z.number().int().nonnegative().default(0),
});
export type RunQueryInput = z.input<typeof RunQuerySchema>;

export const commands = {
  getInfo: z.object({}),
  describeModel: z.object({ spec: Spec }),
  /**
   * Sizes and classes of a dataset; with a model, prepared for it (image folders fitted to its
   * input). `task: 'regression'` reads the targets as floats (see node/datasets LoadDatasetOptions.task).
   */
  describeDataset: z.object({
    spec: Spec,
    model: Spec.optional(),
    inputScale: z.enum(INPUT_SCALES).optional(),
    resize: z.enum(RESIZE_MODES).optional(),
    task: z.enum(['classification', 'regression']).optional(),
  }),
  /**
   * A few samples per class as the model will see them (fitted to its input: resize, crop, channel
   * conversion), as PNG data URLs with the input scaling undone for display.
   */
  previewDataset: z.object({
    spec: Spec,
    /** Model spec whose input shape the samples are fitted to; without one, the first image decides. */
    model: Spec.optional(),
    inputScale: z.enum(INPUT_SCALES).default('auto'),
    resize: z.enum(RESIZE_MODES).default('crop'),
    perClass: z.number().int().min(1).max(8).default(3),
    maxClasses: z.number().int().min(1).max(50).default(12),
  }),
  startRun: RunConfigSchema,
  cancelRun: z.object({ runId: RunId }),
  listRuns: RunQuerySchema,
  getRun: z.object({ runId: RunId }),
  compareRuns: z.object({ runIds: z.array(RunId).min(2).max(20) }),
  paretoRuns: z.object({
    objectives: z
      .array(z.object({ metric: z.string().min(1), direction: z.enum(['max', 'min']) }))
      .min(2)
      .max(4),
  }),
  exportRun: z.object({ runId: RunId, outDir: z.string().min(1).optional(), overwrite: z.boolean().default(false) }).and(ExportRequestSchema),
  exportRunsCsv: RunQuerySchema,
  tagRun: z.object({ runId: RunId, tag: z.string().min(1).max(64), remove: z.boolean().default(false) }),
  noteRun: z.object({ runId: RunId, note: z.string().max(10_000) }),
  deleteRun: z.object({ runId: RunId, deleteArtifacts: z.boolean().default(false) }),
  /** Device profiles (built-in and user), as summaries for the wizard's device step. */
  listProfiles: z.object({}),
  /** Checks a model against a profile's budgets (exports it the way the profile needs, in memory). */
  checkFit: z.object({
    model: Spec,
    profile: z.string().min(1).max(200),
    data: Spec.optional(),
    numericType: z.enum(NUMERIC_TYPES).optional(),
    latencyRuns: z.number().int().nonnegative().max(100).default(5),
  }),
  /**
   * Fit to budget: searches per-layer pruning ratios and a numeric type that meet every budget of
   * the profile, then fine-tunes, exports and records the winner as a run. Runs in a worker; answers
   * at once with a job id, then pushes fitProgress and fitFinished (and the run's runProgress).
   */
  startFit: z.object({
    model: Spec,
    data: Spec,
    profile: z.string().min(1).max(200),
    epochs: z.number().int().nonnegative().max(1000).optional(),
    maxSamplesPerEpoch: z.number().int().positive().optional(),
    evalLimit: z.number().int().positive().optional(),
    name: z.string().max(200).optional(),
    inputScale: z.enum(INPUT_SCALES).optional(),
    resize: z.enum(RESIZE_MODES).optional(),
  }),
  cancelFit: z.object({ jobId: z.string().min(1).max(100) }),
  /** One profile's whole definition (budgets, numeric types, ops), for the profile editor. */
  getProfile: z.object({ id: ProfileId }),
  /** Copies a profile (built-in or user) as a new user profile (`topiary profiles duplicate`). */
  duplicateProfile: z.object({ id: ProfileId, newId: ProfileId.optional(), name: z.string().min(1).max(200).optional() }),
  /** Replaces a user profile's definition; checked by the one ProfileSchema (built-ins are refused). */
  saveProfile: z.object({ id: ProfileId, profile: z.record(z.string(), z.unknown()) }),
  /** Deletes a user profile; runs that used it keep its id. */
  deleteProfile: z.object({ id: ProfileId }),
  /** The settings file (`$TOPIARY_HOME/settings.json`) as it applies, and which backend trains and why. */
  getSettings: z.object({}),
  /** Changes some settings (fields left out keep their value; an unknown field is refused) and saves the file. */
  updateSettings: SettingsPatchSchema,
} as const;

export type CommandName = keyof typeof commands;
export type CommandInput<C extends CommandName> = z.input<(typeof commands)[C]>;
export type CommandPayload<C extends CommandName> = z.output<(typeof commands)[C]>;

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(commands, name);
}

/** Validates a payload for a command; throws a ZodError listing every problem (describeIssues words it). */
export function parsePayload<C extends CommandName>(name: C, payload: unknown): CommandPayload<C> {
  return commands[name].parse(payload ?? {}) as CommandPayload<C>;
}

/** Electron IPC channel names (one for calls, one for pushed events). */
export const IPC_INVOKE = 'topiary:invoke';
export const IPC_EVENT = 'topiary:event';

/** Native dialogs (Electron only; web mode uses text fields). */
export const IPC_DIALOG = 'topiary:dialog';
export const DialogRequestSchema = z.object({
  kind: z.enum(['openModel', 'openDataset', 'chooseFolder', 'revealPath']),
  path: z.string().optional(),
});
export type DialogRequest = z.infer<typeof DialogRequestSchema>;
