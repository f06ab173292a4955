/** The wizard's state: what the user picked so far, each step's validation, and the run config. */
import { EXPORT_FORMATS, QUANT_MODES, TFJS_QUANT_MODES, type RunConfigInput } from '../../src-main/common/run-config';
import type { InputScaleChoice, ResizeMode } from '../../src-main/common/input-prep';
import type { CommandResults } from '../../src-main/common/contract';
import { pruneConfigProblems, type PruneConfigInput } from '../../src-main/common/prune-config';
import { transport } from '../lib/transport';
import { startedRuns } from '../lib/started';
import { DeviceState, QUANT_FOR_TYPE, TFJS_QUANT_FOR_TYPE, type FitResult } from './device.svelte';

export type MethodChoice = 'magnitude' | 'taylor' | 'structured';
export type ExportFormatChoice = 'none' | (typeof EXPORT_FORMATS)[number];
/** Quantizations per export format, as `topiary prune --export format:quant` takes them. */
export const EXPORT_QUANTS: Record<(typeof EXPORT_FORMATS)[number], readonly string[]> = { tflite: QUANT_MODES, tfjs: TFJS_QUANT_MODES };
export const QUANT_LABELS: Record<string, string> = {
  none: 'float32',
  float16: 'float16',
  'dynamic-int8': 'dynamic-range int8',
  int8: 'full int8',
  uint8: 'uint8 weights',
  uint16: 'uint16 weights',
};
/** Fields of the method step and the prune-config paths whose problems they show inline. */
const FIELD_PATHS = { sparsity: 'sparsity', epochs: 'finetune.epochs', batchSize: 'finetune.batchSize', learningRate: 'finetune.learningRate' } as const;
export type MethodField = keyof typeof FIELD_PATHS;
const FIELD_LABELS: Record<MethodField, string> = { sparsity: 'the target sparsity', epochs: 'the fine-tuning epochs', batchSize: 'the batch size', learningRate: 'the learning rate' };
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
  /** null: the field was emptied (a number input's empty value), which the schema refuses. */
  sparsity = $state<number | null>(0.5);
  schedule = $state('oneshot');
  epochs = $state<number | null>(2);
  batchSize = $state<number | null>(64);
  learningRate = $state<number | null>(0.001);
  scope = $state<'global' | 'layer'>('global');
  granularity = $state<'unstructured' | 'nm'>('unstructured');
  roundTo = $state(0);
  maxSamples = $state(0);
  evalLimit = $state(0);
  /** 'auto': what the model's output layer says (ModelDescription.task); else the user's choice. */
  task = $state<'auto' | 'classification' | 'regression'>('auto');
  /** The export the run makes and verifies: every format and quantization the CLI's --export offers. */
  exportFormat = $state<ExportFormatChoice>('tflite');
  exportQuant = $state<string>('int8');
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
        return this.fitToBudget ? [] : pruneConfigProblems(this.toConfig().prune);
      default:
        // Review: Start is refused for whatever an earlier step would refuse.
        return this.fitToBudget ? [] : pruneConfigProblems(this.toConfig().prune);
    }
  }

  /** Problems not already shown beside their field (the always-visible sparsity and epochs). */
  get otherProblems(): string[] {
    if (this.step !== 3) return this.problems;
    return this.problems.filter((p) => !p.startsWith(`${FIELD_PATHS.sparsity} `) && !p.startsWith(`${FIELD_PATHS.epochs} `));
  }

  /**
   * The problem of one method-step field, shown beside it. An emptied field says so in words (the
   * schema's "got null"), as it is not a default: the run must not quietly use 0.5.
   */
  fieldProblem(field: MethodField): string {
    if (this.fitToBudget) return '';
    const value = this[field];
    if (value === null || value === undefined || Number.isNaN(value)) return `Enter ${FIELD_LABELS[field]}: the field is empty.`;
    const path = FIELD_PATHS[field];
    const problem = pruneConfigProblems(this.toConfig().prune).find((p) => p.startsWith(`${path} `));
    return problem ?? '';
  }

  toConfig(): RunConfigInput {
    const structured = this.method === 'structured';
    const prune: PruneConfigInput = {
      method: this.method === 'taylor' ? 'taylor' : 'magnitude',
      granularity: structured ? 'structured' : this.granularity,
      // An emptied field stays null here, so the schema refuses it (it is not filled with the default).
      sparsity: this.sparsity as number,
      scope: structured ? 'layer' : this.scope,
      schedule: this.schedule.startsWith('iterative')
        ? { kind: 'iterative', rounds: Number(this.schedule.split(':')[1] ?? 3) }
        : this.schedule === 'poly'
          ? { kind: 'poly', initialSparsity: 0 }
          : { kind: 'oneshot' },
      finetune: {
        epochs: this.epochs as number,
        batchSize: this.batchSize as number,
        learningRate: this.learningRate as number,
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
      exports: this.exportFormat === 'none' ? [] : [{ format: this.exportFormat, quant: this.exportQuant as 'none' }],
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
    const first = (config.exports ?? [])[0];
    this.exportFormat = first ? first.format : 'none';
    if (first) this.exportQuant = EXPORT_QUANTS[first.format].includes(first.quant ?? 'none') ? (first.quant ?? 'none') : 'none';
    if (config.profile) this.device.profileId = config.profile;
  }

  chooseProfile(id: string) {
    this.device.profileId = id;
  }

  /** The profile's export: its format and preferred numeric type become the export defaults. */
  applyProfileDefaults(fit: FitResult) {
    this.exportFormat = fit.format;
    this.exportQuant = fit.format === 'tfjs' ? TFJS_QUANT_FOR_TYPE[fit.numericType] : QUANT_FOR_TYPE[fit.numericType];
  }

  /** Switching the format keeps the quantization when the new format has it, else float32. */
  chooseExportFormat(format: ExportFormatChoice) {
    this.exportFormat = format;
    if (format !== 'none' && !EXPORT_QUANTS[format].includes(this.exportQuant)) this.exportQuant = 'none';
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
        epochs: this.epochs ?? undefined,
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
