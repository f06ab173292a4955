/**
 * The settings screen's state: the settings as they apply (getSettings), the form being edited,
 * and the app's one line about the GPU (getInfo's gpu, the same line `topiary info` prints).
 */
import type { AppInfo, SettingsView, TrainingBackend } from '../../src-main/common/contract';
import { salvageSettings } from '../../src-main/common/settings';
import { transport } from '../lib/transport';

export interface SettingsForm {
  trainingBackend: TrainingBackend;
  /** null while the number field is empty. */
  gpuMemoryLimitMiB: number | null;
}

export class SettingsState {
  view = $state<SettingsView | null>(null);
  form = $state<SettingsForm>({ trainingBackend: 'auto', gpuMemoryLimitMiB: 2048 });
  gpu = $state<AppInfo['gpu'] | null>(null);
  gpuError = $state('');
  error = $state('');
  saved = $state('');
  busy = $state(false);

  /** Each field's problem, by the same rules the file is read with (common/settings.ts). */
  get problems(): Partial<Record<keyof SettingsForm, string>> {
    if (this.form.gpuMemoryLimitMiB === null) return { gpuMemoryLimitMiB: 'enter the limit in MiB' };
    return salvageSettings(this.form).byField;
  }

  get changed(): boolean {
    const s = this.view?.settings;
    return !!s && (s.trainingBackend !== this.form.trainingBackend || s.gpuMemoryLimitMiB !== this.form.gpuMemoryLimitMiB);
  }

  async load() {
    try {
      this.show(await transport.call('getSettings', {}));
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  /** The GPU line needs the engine (tfjs picks its backend there), so it arrives on its own. */
  async loadGpu() {
    try {
      this.gpu = (await transport.call('getInfo', {})).gpu ?? null;
    } catch (err) {
      this.gpuError = (err as Error).message;
    }
  }

  async save(): Promise<boolean> {
    if (Object.keys(this.problems).length || this.form.gpuMemoryLimitMiB === null) return false;
    this.busy = true;
    this.error = '';
    this.saved = '';
    try {
      this.show(await transport.call('updateSettings', { trainingBackend: this.form.trainingBackend, gpuMemoryLimitMiB: this.form.gpuMemoryLimitMiB }));
      this.saved = 'Saved.';
      // The GPU line depends on the chosen backend too.
      void this.loadGpu();
      return true;
    } catch (err) {
      this.error = (err as Error).message;
      return false;
    } finally {
      this.busy = false;
    }
  }

  private show(view: SettingsView) {
    this.view = view;
    this.form = { ...view.settings };
  }
}
