/**
 * What getSettings and updateSettings answer: the settings as they apply now, where they are
 * stored, what is wrong with the file if anything, and which backend will train (TOPIARY_BACKEND
 * can override the file; the screen says so rather than showing a choice that does not apply).
 */
import type { ResolvedTrainingBackend, Settings } from '../settings';

export type { ResolvedTrainingBackend, Settings, SettingsPatch, TrainingBackend, TrainingBackendSource } from '../settings';

export interface SettingsView {
  /** The settings file: `$TOPIARY_HOME/settings.json` (it need not exist: then every field is its default). */
  file: string;
  /** Every field, defaults filled in for those the file leaves out or gets wrong. */
  settings: Settings;
  /**
   * Why the file could not be used as it is (unreadable, not JSON, a field out of range), naming the
   * file and field; the fields it names show their defaults, and the next save rewrites the file.
   */
  problem?: string;
  /** Which backend trains and what decided it; absent when TOPIARY_BACKEND is invalid (trainingError). */
  training?: ResolvedTrainingBackend;
  trainingError?: string;
  /** The decision in words, e.g. `webgl (TOPIARY_BACKEND=webgl overrides the settings' auto)`. */
  trainingLine: string;
  /**
   * The GPU windows connected now (web mode's frames, the desktop app's hidden window), each with
   * whether the next run would train on it and, if not, why; absent where runs have no GPU peers.
   */
  gpuWindows?: GpuWindowView[];
}

export interface GpuWindowView {
  backend: string | null;
  adapter?: string;
  software: boolean;
  /** Runs queued or training on it. */
  busy: number;
  /** The next run trains here (the training backend's choice picks this window). */
  chosen: boolean;
  /** In words: `trains the next run`, or why not (choosePeer's reason). */
  line: string;
}
