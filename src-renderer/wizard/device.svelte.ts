/**
 * The wizard's device step: the profiles to choose from, the chosen one, and a fit check of the
 * current model against each profile (run one after another so the services are not flooded).
 */
import type { CommandResults } from '../../src-main/common/contract';
import { transport } from '../lib/transport';

export type ProfileSummary = CommandResults['listProfiles'][number];
export type FitResult = CommandResults['checkFit'];
export type FitState = { status: 'checking' } | { status: 'done'; fit: FitResult } | { status: 'error'; message: string };

/** The export quantization a profile's preferred numeric type maps to. */
export const QUANT_FOR_TYPE = { float32: 'none', float16: 'float16', 'dynamic-int8': 'dynamic-int8', int8: 'int8' } as const;
/** tfjs has no int8 kernels: 8-bit types become uint8 affine weights (as engine/fit/check.ts tfjsQuantFor). */
export const TFJS_QUANT_FOR_TYPE = { float32: 'none', float16: 'float16', 'dynamic-int8': 'uint8', int8: 'uint8' } as const;

export class DeviceState {
  profiles = $state<ProfileSummary[]>([]);
  /** '' = no target device. */
  profileId = $state('');
  fits = $state<Record<string, FitState>>({});
  error = $state('');
  /** The model the fits were checked for; a different model means checking again. */
  private checkedModel = '';

  get selected(): ProfileSummary | undefined {
    return this.profiles.find((p) => p.id === this.profileId);
  }

  get selectedFit(): FitResult | undefined {
    const f = this.fits[this.profileId];
    return f?.status === 'done' ? f.fit : undefined;
  }

  /** Loads the profiles (once) and checks the model against each, unless already done for it. */
  async refresh(model: string, data: string) {
    this.error = '';
    try {
      if (!this.profiles.length) this.profiles = await transport.call('listProfiles', {});
    } catch (err) {
      this.error = (err as Error).message;
      return;
    }
    if (this.checkedModel === model) return;
    this.checkedModel = model;
    this.fits = Object.fromEntries(this.profiles.map((p) => [p.id, { status: 'checking' } as FitState]));
    for (const p of this.profiles) {
      if (this.checkedModel !== model) return; // the model changed meanwhile: a newer refresh owns the cards
      try {
        const fit = await transport.call('checkFit', { model, profile: p.id, data, latencyRuns: 3 });
        if (this.checkedModel === model) this.fits[p.id] = { status: 'done', fit };
      } catch (err) {
        if (this.checkedModel === model) this.fits[p.id] = { status: 'error', message: (err as Error).message };
      }
    }
  }
}
