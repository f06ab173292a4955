/**
 * The user's settings file, `<data folder>/settings.json`: read (a missing file is all defaults; a
 * damaged one is reported, field by field, and never stops the app), and updated (validated, then
 * written atomically, a temporary file beside it renamed over it, so a crash mid-write leaves the
 * old file or the new one, never half of one). Nothing is written outside the data folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, TopiaryError } from '../common/errors';
import { describeTrainingBackend, salvageSettings, SETTINGS_DEFAULTS, resolveTrainingBackend, type Settings, type SettingsPatch, type TrainingBackend } from '../common/settings';
import type { SettingsView } from '../common/contract/settings';

export type { SettingsView };

/** The settings file's name inside the data folder. */
export const SETTINGS_FILE = 'settings.json';

interface Loaded {
  settings: Settings;
  /** The fields the file itself sets (validly). */
  given: Partial<Settings>;
  /** What is wrong with the file, naming it; undefined when nothing is. */
  problem?: string;
}

export class SettingsService {
  readonly file: string;

  constructor(readonly home: string) {
    this.file = path.join(home, SETTINGS_FILE);
  }

  /**
   * The settings, defaults filled in. Throws a ConfigError naming the file and the field when the
   * file is damaged (callers that must not fail use view(), which reports it instead).
   */
  read(): Settings {
    const loaded = this.load();
    if (loaded.problem) throw new ConfigError(loaded.problem, { file: this.file });
    return loaded.settings;
  }

  /** The settings as they apply, with the file's problems and the training backend decision; never throws. */
  view(env: Readonly<Record<string, string | undefined>> = process.env): SettingsView {
    const { settings, given, problem } = this.load();
    const view: SettingsView = { file: this.file, settings, trainingLine: '' };
    if (problem) view.problem = problem;
    try {
      view.training = resolveTrainingBackend(given, env);
      view.trainingLine = describeTrainingBackend(view.training, settings);
    } catch (err) {
      view.trainingError = err instanceof Error ? err.message : String(err);
      view.trainingLine = `unknown: ${view.trainingError}`;
    }
    return view;
  }

  /**
   * Which backend trains a run: TOPIARY_BACKEND over the file over auto. A damaged file counts
   * only for its valid fields (view() reports the rest); an unknown TOPIARY_BACKEND throws a ConfigError.
   */
  trainingBackend(env: Readonly<Record<string, string | undefined>> = process.env): TrainingBackend {
    return resolveTrainingBackend(this.load().given, env).choice;
  }

  /**
   * Whether a GPU window should be open, and on what: trainingBackend(), except that an unknown
   * TOPIARY_BACKEND answers cpu here (each run then fails with that reason; no window is needed for it).
   */
  windowBackend(env: Readonly<Record<string, string | undefined>> = process.env): TrainingBackend {
    try {
      return this.trainingBackend(env);
    } catch {
      return 'cpu';
    }
  }

  /** The GPU memory limit in bytes (gpuMemoryLimitMiB; its default when the file gets it wrong). */
  gpuMemoryLimitBytes(): number {
    return this.load().settings.gpuMemoryLimitMiB * 2 ** 20;
  }

  /**
   * Applies `patch` (already checked against SettingsPatchSchema at the front door; checked again
   * here, since the CLI and tests call this directly) and writes the whole file. Fields the file got
   * wrong are written as their defaults; the damaged file is kept beside it as settings.json.bad.
   */
  update(patch: SettingsPatch, env: Readonly<Record<string, string | undefined>> = process.env): SettingsView {
    const checked = salvageSettings(patch);
    if (checked.problems.length > 0) throw new ConfigError(`settings: ${checked.problems.join('; ')}`);
    const current = this.load();
    const next: Settings = { ...current.settings, ...checked.given };
    if (current.problem && fs.existsSync(this.file)) this.keepDamaged();
    this.write(next);
    return this.view(env);
  }

  private load(): Loaded {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { settings: { ...SETTINGS_DEFAULTS }, given: {} };
      return { settings: { ...SETTINGS_DEFAULTS }, given: {}, problem: `${this.file}: cannot be read (${(err as Error).message}); using the defaults` };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      return { settings: { ...SETTINGS_DEFAULTS }, given: {}, problem: `${this.file}: not valid JSON (${(err as Error).message}); using the defaults until the settings are saved` };
    }
    const { settings, given, problems } = salvageSettings(raw);
    if (problems.length === 0) return { settings, given };
    return { settings, given, problem: `${this.file}: ${problems.join('; ')}; using the default for ${problems.length === 1 ? 'it' : 'them'} until the settings are saved` };
  }

  private keepDamaged(): void {
    try {
      fs.copyFileSync(this.file, `${this.file}.bad`);
    } catch {
      // Keeping the old file is a courtesy: the user's save must not fail for it.
    }
  }

  /** Writes a temporary file in the data folder (exclusive create: never through a planted link), then renames it over the file. */
  private write(settings: Settings): void {
    const tmp = path.join(this.home, `.${SETTINGS_FILE}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    try {
      fs.mkdirSync(this.home, { recursive: true });
      fs.writeFileSync(tmp, `${JSON.stringify(settings, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
      fs.renameSync(tmp, this.file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw new TopiaryError(`${this.file}: could not save the settings (${(err as Error).message})`, { file: this.file, cause: err });
    }
  }
}
