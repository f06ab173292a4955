/**
 * The user's settings (`$TOPIARY_HOME/settings.json`): their schema with defaults, and the rule that
 * decides which backend trains. Pure: the file is read and written by app/settings-service.ts, the
 * environment is passed in, so the renderer, the CLI and tests all resolve the same way.
 */
import { z } from 'zod';
import { ConfigError } from './errors';
import { BACKEND_NAMES, type BackendChoice } from './contract/results';
import { GPU_BACKEND_NAMES } from './contract/gpu';

/**
 * Where fine-tuning runs: `cpu` is the Node worker (whatever compute backend Node loaded: wasm,
 * tfjs-node, or tfjs-node-gpu's CUDA), `webgpu` / `webgl` a browser GPU window (src-main/gpu/),
 * `auto` the first GPU backend that initializes and passes its self-test, else the Node worker.
 */
export const TRAINING_BACKENDS = ['auto', 'cpu', 'webgpu', 'webgl'] as const;
export type TrainingBackend = (typeof TRAINING_BACKENDS)[number];

/**
 * Bounds of the GPU memory limit, in MiB. Below 64 MiB not even a small CNN's training step fits;
 * 256 GiB is above any single GPU sold today (an H200 has 141 GB), so a larger value is a typo.
 */
export const GPU_MEMORY_LIMIT_MIB = { min: 64, max: 262_144, default: 2048 } as const;

const trainingBackend = z.enum(TRAINING_BACKENDS, { error: `must be one of ${TRAINING_BACKENDS.join(', ')}` });
const gpuMemoryLimitMiB = z
  .number({ error: `must be a whole number of MiB from ${GPU_MEMORY_LIMIT_MIB.min} to ${GPU_MEMORY_LIMIT_MIB.max}` })
  .int({ error: `must be a whole number of MiB from ${GPU_MEMORY_LIMIT_MIB.min} to ${GPU_MEMORY_LIMIT_MIB.max}` })
  .min(GPU_MEMORY_LIMIT_MIB.min, { error: `must be at least ${GPU_MEMORY_LIMIT_MIB.min} MiB` })
  .max(GPU_MEMORY_LIMIT_MIB.max, { error: `must be at most ${GPU_MEMORY_LIMIT_MIB.max} MiB (256 GiB)` });

/** The settings fields, each with its rule; a field missing from the file takes its default. */
const FIELDS = { trainingBackend, gpuMemoryLimitMiB } as const;

export const SETTINGS_DEFAULTS = { trainingBackend: 'auto', gpuMemoryLimitMiB: GPU_MEMORY_LIMIT_MIB.default } as const satisfies { [K in keyof typeof FIELDS]: z.output<(typeof FIELDS)[K]> };

/**
 * The file's schema. Unknown keys are dropped rather than refused, so a file written by a newer
 * Topiary still opens (its extra settings are lost on the next save, which is said in the docs).
 */
export const SettingsSchema = z.object({
  trainingBackend: trainingBackend.default(SETTINGS_DEFAULTS.trainingBackend),
  gpuMemoryLimitMiB: gpuMemoryLimitMiB.default(SETTINGS_DEFAULTS.gpuMemoryLimitMiB),
});
export type Settings = z.output<typeof SettingsSchema>;

/**
 * A change to some settings (the updateSettings command). Strict, and without defaults: a field
 * left out keeps its current value, and a misspelt one is an error instead of a silent no-op.
 */
export const SettingsPatchSchema = z.object({ trainingBackend: trainingBackend.optional(), gpuMemoryLimitMiB: gpuMemoryLimitMiB.optional() }).strict();
export type SettingsPatch = z.output<typeof SettingsPatchSchema>;

/**
 * Reads what can be read of a parsed file: each valid field kept, each invalid one replaced by its
 * default and described (`gpuMemoryLimitMiB must be at least 64 MiB, got 10`), so one bad value
 * neither hides the others nor stops the app. `given` is what the file itself set, validly;
 * `byField` each bad field's problem without its name (for a form, under the field).
 */
export function salvageSettings(raw: unknown): { settings: Settings; given: Partial<Settings>; problems: string[]; byField: Partial<Record<keyof Settings, string>> } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { settings: { ...SETTINGS_DEFAULTS }, given: {}, byField: {}, problems: [`must be a JSON object, got ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}`] };
  }
  const obj = raw as Record<string, unknown>;
  const given: Partial<Settings> = {};
  const problems: string[] = [];
  const byField: Partial<Record<keyof Settings, string>> = {};
  for (const key of Object.keys(FIELDS) as (keyof typeof FIELDS)[]) {
    if (obj[key] === undefined) continue;
    const r = FIELDS[key].safeParse(obj[key]);
    if (r.success) (given as Record<string, unknown>)[key] = r.data;
    else {
      byField[key] = `${r.error.issues[0]?.message ?? 'is invalid'}, got ${JSON.stringify(obj[key])}`;
      problems.push(`${key} ${byField[key]}`);
    }
  }
  return { settings: { ...SETTINGS_DEFAULTS, ...given }, given, problems, byField };
}

/** What decided the training backend: `TOPIARY_BACKEND`, the settings file, or neither. */
export type TrainingBackendSource = 'env' | 'settings' | 'default';

export interface ResolvedTrainingBackend {
  choice: TrainingBackend;
  source: TrainingBackendSource;
  /** TOPIARY_BACKEND as given (trimmed), when it decided: `wasm` resolves to `cpu` but says so. */
  env?: string;
}

/** Every value TOPIARY_BACKEND accepts: the training choices and Node's compute backends. */
export const TOPIARY_BACKEND_VALUES = ['auto', ...BACKEND_NAMES, ...GPU_BACKEND_NAMES] as const;

/**
 * Which backend fine-tunes: `TOPIARY_BACKEND` (case-insensitive) over the settings file over the
 * default. The variable also names Node's compute backends (node/backend.ts); forcing one of
 * those (wasm, tensorflow, tensorflow-gpu, cpu) keeps training in the Node worker, so it resolves
 * to `cpu`. `auto` or an empty value leaves the choice to the settings: `settings` holds only the
 * fields the file sets (a field left out is the default's, not the user's, choice). Any other value is a
 * ConfigError naming the variable and what it accepts: a typo must not quietly train elsewhere.
 * @example resolveTrainingBackend({ trainingBackend: 'webgl', gpuMemoryLimitMiB: 2048 }, { TOPIARY_BACKEND: 'WASM' })
 *   // { choice: 'cpu', source: 'env', env: 'WASM' }
 */
export function resolveTrainingBackend(settings: { trainingBackend?: TrainingBackend } | undefined, env: Readonly<Record<string, string | undefined>>): ResolvedTrainingBackend {
  const given = (env.TOPIARY_BACKEND ?? '').trim();
  const raw = given.toLowerCase();
  if (raw !== '' && raw !== 'auto') {
    if (!(TOPIARY_BACKEND_VALUES as readonly string[]).includes(raw)) {
      throw new ConfigError(`TOPIARY_BACKEND must be one of ${TOPIARY_BACKEND_VALUES.join(', ')}; got "${env.TOPIARY_BACKEND}"`);
    }
    const choice: TrainingBackend = (GPU_BACKEND_NAMES as readonly string[]).includes(raw) ? (raw as TrainingBackend) : 'cpu';
    return { choice, source: 'env', env: given };
  }
  if (settings?.trainingBackend !== undefined) return { choice: settings.trainingBackend, source: 'settings' };
  return { choice: SETTINGS_DEFAULTS.trainingBackend, source: 'default' };
}

/** The Node compute backend TOPIARY_BACKEND forces, if it names one (for wording only). */
export function nodeBackendOf(resolved: ResolvedTrainingBackend): BackendChoice | undefined {
  const raw = resolved.env?.toLowerCase();
  return raw && (BACKEND_NAMES as readonly string[]).includes(raw) ? (raw as BackendChoice) : undefined;
}

/** One line for `topiary info` and the settings screen: `webgl (TOPIARY_BACKEND=webgl overrides the settings' auto)`. */
export function describeTrainingBackend(resolved: ResolvedTrainingBackend, settings?: Pick<Settings, 'trainingBackend'>): string {
  if (resolved.source === 'env') {
    const node = nodeBackendOf(resolved);
    const what = node && node !== 'cpu' ? `cpu: the Node worker on ${node}` : resolved.choice;
    const over = settings ? ` overrides the settings' ${settings.trainingBackend}` : '';
    return `${what} (TOPIARY_BACKEND=${resolved.env}${over})`;
  }
  return `${resolved.choice} (${resolved.source === 'settings' ? 'settings.json' : 'default'})`;
}
