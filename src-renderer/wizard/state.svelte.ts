/** The wizard's state: what the user picked so far, each step's validation, and the run config. */
import type { RunConfigInput } from '../../src-main/common/run-config';
import type { InputScaleChoice, ResizeMode } from '../../src-main/common/input-prep';
import type { CommandResults } from '../../src-main/common/contract';
import { pruneConfigProblems, type PruneConfigInput } from '../../src-main/common/prune-config';
import { transport } from '../lib/transport';
import { startedRuns } from '../lib/started';
import { DeviceState, QUANT_FOR_TYPE, type FitResult } from './device.svelte';

export type MethodChoice = 'magnitude' | 'taylor' | 'structured';
const QUANT_NAMES = { none: 1, float16: 1, 'dynamic-int8': 1, int8: 1 } as const;
export const STEPS = ['Model', 'Data', 'Device', 'Method', 'Review'] as const;

export class WizardState {
  step = $state(0);

  modelSpec = $state('demo');
  model = $state<CommandResults['describeModel'] | null>(null);
  modelError = $state('');
  modelLoading = $state(false);

  dataSpec = $state('demo');
  data = $state<CommandResults['describeDataset'] | null>(null);
  dataError = $state('');
  dataLoading = $state(false);

  /** How 8-bit data is scaled and images fitted to the model input (see common/input-prep.ts). */
  inputScale = $state<InputScaleChoice>('auto');
  resize = $state<ResizeMode>('crop');
  preview = $state<CommandResults['previewDataset'] | null>(null);
  previewError = $state('');
  previewLoading = $state(false);

  device = new DeviceState();
  /** Let the search pick per-layer ratios and the numeric type that meet the profile's budgets. */
  fitToBudget = $state(false);

  #method = $state<MethodChoice>('magnitude');
  /**
   * Picking a method also picks its sensible scope: Taylor scores are not comparable across layers
   * (gradient scales differ by orders of magnitude), so a global threshold can empty a whole layer.
   */
  get method(): MethodChoice {
    return this.#method;
  }
  set method(m: MethodChoice) {
    this.#method = m;
    this.scope = m === 'magnitude' ? 'global' : 'layer';
  }
  sparsity = $state(0.5);
  schedule = $state('oneshot');
  epochs = $state(2);
  batchSize = $state(64);
  learningRate = $state(0.001);
  scope = $state<'global' | 'layer'>('global');
  granularity = $state<'unstructured' | 'nm'>('unstructured');
  roundTo = $state(0);
  maxSamples = $state(0);
  evalLimit = $state(0);
  /** 'auto': what the model's output layer says (ModelDescription.task); else the user's choice. */
  task = $state<'auto' | 'classification' | 'regression'>('auto');
  exportTflite = $state(true);
  exportQuant = $state<'none' | 'float16' | 'dynamic-int8' | 'int8'>('int8');
  name = $state('');

  starting = $state(false);
  startError = $state('');

  // Only the newest load may set the result: an automatic load of the default must not overwrite
  // what the user asked for meanwhile.
  #modelRequest = 0;
  #dataRequest = 0;
  #previewRequest = 0;

  async loadModel() {
    const request = ++this.#modelRequest;
    this.modelLoading = true;
    this.modelError = '';
    this.model = null;
    try {
      const model = await transport.call('describeModel', { spec: this.modelSpec.trim() });
      if (request === this.#modelRequest) this.model = model;
    } catch (err) {
      if (request === this.#modelRequest) this.modelError = (err as Error).message;
    } finally {
      if (request === this.#modelRequest) this.modelLoading = false;
    }
  }

  async loadData() {
    const request = ++this.#dataRequest;
    this.dataLoading = true;
    this.dataError = '';
    this.data = null;
    try {
      // With the model known, image folders are described as fitted to its input (as the run will).
      const task = this.effectiveTask;
      const data = await transport.call('describeDataset', {
        spec: this.dataSpec.trim(),
        ...(this.model ? { model: this.modelSpec.trim(), inputScale: this.inputScale, resize: this.resize } : {}),
        ...(task ? { task } : {}),
      });
      if (request === this.#dataRequest) this.data = data;
    } catch (err) {
      if (request === this.#dataRequest) this.dataError = (err as Error).message;
    } finally {
      if (request === this.#dataRequest) this.dataLoading = false;
    }
  }

  /** Thumbnails of the loaded dataset as the chosen model will see them (a failure does not block Next). */
  async loadPreview() {
    const request = ++this.#previewRequest;
    this.previewLoading = true;
    this.previewError = '';
    try {
      const preview = await transport.call('previewDataset', {
        spec: this.dataSpec.trim(),
        ...(this.model ? { model: this.modelSpec.trim() } : {}),
        inputScale: this.inputScale,
        resize: this.resize,
        perClass: 3,
      });
      if (request === this.#previewRequest) this.preview = preview;
    } catch (err) {
      if (request === this.#previewRequest) {
        this.preview = null;
        this.previewError = (err as Error).message;
      }
    } finally {
      if (request === this.#previewRequest) this.previewLoading = false;
    }
  }

  /** The task the run will use: the user's choice, else the model's; null when neither says. */
  get effectiveTask(): 'classification' | 'regression' | null {
    return this.task !== 'auto' ? this.task : (this.model?.task ?? null);
  }

  /** Problems that block Next on the current step (empty = fine). */
  get problems(): string[] {
    switch (this.step) {
      case 0:
        if (!this.model) return ['Load a model first.'];
        return this.effectiveTask ? [] : [`${this.model.taskNote ?? 'The task is unknown'}: choose classification or regression.`];
      case 1:
        return this.data ? [] : ['Load a dataset first.'];
      case 2:
        return [];
      case 3:
        // The same schema the services validate with, so the wizard refuses exactly what a run would.
        return pruneConfigProblems(this.toConfig().prune);
      default:
        return [];
    }
  }

  toConfig(): RunConfigInput {
    const structured = this.method === 'structured';
    const prune: PruneConfigInput = {
      method: this.method === 'taylor' ? 'taylor' : 'magnitude',
      granularity: structured ? 'structured' : this.granularity,
      sparsity: this.sparsity,
      scope: structured ? 'layer' : this.scope,
      schedule: this.schedule.startsWith('iterative')
        ? { kind: 'iterative', rounds: Number(this.schedule.split(':')[1] ?? 3) }
        : this.schedule === 'poly'
          ? { kind: 'poly', initialSparsity: 0 }
          : { kind: 'oneshot' },
      finetune: {
        epochs: this.epochs,
        batchSize: this.batchSize,
        learningRate: this.learningRate,
        ...(this.maxSamples > 0 ? { maxSamplesPerEpoch: this.maxSamples } : {}),
      },
    };
    if (structured && this.roundTo > 0) prune.roundTo = this.roundTo;
    return {
      model: this.modelSpec.trim(),
      data: this.dataSpec.trim(),
      inputScale: this.inputScale,
      resize: this.resize,
      prune,
      ...(this.name.trim() ? { name: this.name.trim() } : {}),
      ...(this.device.profileId ? { profile: this.device.profileId } : {}),
      ...(this.evalLimit > 0 ? { evalLimit: this.evalLimit } : {}),
      ...(this.task !== 'auto' ? { task: this.task } : {}),
      exports: this.exportTflite ? [{ format: 'tflite', quant: this.exportQuant }] : [],
    };
  }

  /** Fills the wizard from a stored run's config ("run again"). */
  prefill(config: RunConfigInput) {
    this.modelSpec = config.model;
    this.dataSpec = config.data;
    if (config.inputScale) this.inputScale = config.inputScale;
    if (config.resize) this.resize = config.resize;
    const p = (config.prune ?? {}) as Record<string, any>;
    this.method = p.granularity === 'structured' ? 'structured' : p.method === 'taylor' ? 'taylor' : 'magnitude';
    if (typeof p.sparsity === 'number') this.sparsity = p.sparsity;
    if (p.finetune?.epochs !== undefined) this.epochs = p.finetune.epochs;
    if (p.finetune?.batchSize) this.batchSize = p.finetune.batchSize;
    if (p.finetune?.learningRate) this.learningRate = p.finetune.learningRate;
    if (p.finetune?.maxSamplesPerEpoch) this.maxSamples = p.finetune.maxSamplesPerEpoch;
    if (p.scope) this.scope = p.scope;
    if (p.schedule?.kind === 'iterative') this.schedule = `iterative:${p.schedule.rounds}`;
    else if (p.schedule?.kind) this.schedule = p.schedule.kind;
    if (config.evalLimit) this.evalLimit = config.evalLimit;
    this.task = config.task ?? 'auto';
    if (p.granularity === 'nm' || p.granularity === 'unstructured') this.granularity = p.granularity;
    if (typeof p.roundTo === 'number') this.roundTo = p.roundTo;
    const tflite = (config.exports ?? []).find((e) => e.format === 'tflite');
    this.exportTflite = !!tflite;
    if (tflite?.quant && tflite.quant in QUANT_NAMES) this.exportQuant = tflite.quant as keyof typeof QUANT_NAMES;
    if (config.profile) this.device.profileId = config.profile;
  }

  chooseProfile(id: string) {
    this.device.profileId = id;
  }

  /** The profile's export: its format and preferred numeric type become the export defaults. */
  applyProfileDefaults(fit: FitResult) {
    this.exportTflite = fit.format === 'tflite';
    if (this.exportTflite) this.exportQuant = QUANT_FOR_TYPE[fit.numericType];
  }

  /** Starts fit to budget for the chosen profile; resolves with the job id. */
  async startFit(): Promise<string | null> {
    this.starting = true;
    this.startError = '';
    try {
      const { jobId } = await transport.call('startFit', {
        model: this.modelSpec.trim(),
        data: this.dataSpec.trim(),
        profile: this.device.profileId!,
        epochs: this.epochs,
        inputScale: this.inputScale,
        resize: this.resize,
        ...(this.maxSamples > 0 ? { maxSamplesPerEpoch: this.maxSamples } : {}),
        ...(this.evalLimit > 0 ? { evalLimit: this.evalLimit } : {}),
        ...(this.name.trim() ? { name: this.name.trim() } : {}),
      });
      return jobId;
    } catch (err) {
      this.startError = (err as Error).message;
      return null;
    } finally {
      this.starting = false;
    }
  }

  async start(): Promise<string | null> {
    this.starting = true;
    this.startError = '';
    try {
      const config = this.toConfig();
      const { runId } = await transport.call('startRun', config);
      startedRuns.set(runId, config);
      return runId;
    } catch (err) {
      this.startError = (err as Error).message;
      return null;
    } finally {
      this.starting = false;
    }
  }
}
