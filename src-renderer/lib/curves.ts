/**
 * Training curves for charts: the x axis a reader picks (step, epoch, wall time), one colour per
 * run (the same run keeps its colour in every panel of a screen), and the values a run recorded.
 * Pure: the components that draw curves share these.
 */
import type { CurvePoint, MetricSeries } from '../../src-main/common/contract';
import { elapsed, percent, precision } from '../../src-main/common/format';

export type CurveAxis = 'step' | 'epoch' | 'wall';

export const CURVE_AXES: readonly { id: CurveAxis; label: string }[] = [
  { id: 'step', label: 'step' },
  { id: 'epoch', label: 'epoch' },
  { id: 'wall', label: 'wall time' },
];

export function xOf(p: CurvePoint, axis: CurveAxis): number {
  return axis === 'step' ? p.step : axis === 'epoch' ? p.epoch : p.wallMs;
}

export function formatX(x: number, axis: CurveAxis): string {
  return axis === 'wall' ? elapsed(x) : axis === 'epoch' ? precision(x, 3).replace(/\.?0+$/, '') : String(Math.round(x));
}

/**
 * Run colours, one per run by its place on the screen: Okabe and Ito's colour-blind-safe set
 * (without black and yellow, which vanish on the dark and light backgrounds).
 */
const RUN_COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#8250df', '#7a5c00'];

export function runColor(index: number): string {
  return RUN_COLORS[index % RUN_COLORS.length];
}

/** A value a curve point may hold: what it is called on a chart and how it reads. */
export interface CurveValue {
  name: string;
  label: string;
  format: (v: number) => string;
  /** The held-out twin drawn dashed beside it, if the run held data out. */
  held?: string;
}

/** Four significant digits without trailing zeros (axis ticks read 0.8, not 0.8000). */
const plain = (v: number) => (Number.isFinite(v) ? String(Number(precision(v, 4))) : precision(v, 4));
/** A percentage that never wraps between the number and its sign. */
const pct = (v: number) => percent(v, 1, '\u00a0');

export const CURVE_VALUES: readonly CurveValue[] = [
  { name: 'loss', label: 'Loss', format: plain, held: 'valLoss' },
  { name: 'accuracy', label: 'Accuracy', format: pct, held: 'valAccuracy' },
  { name: 'r2', label: 'R²', format: plain, held: 'valR2' },
  { name: 'sparsity', label: 'Sparsity', format: pct },
  { name: 'lr', label: 'Learning rate', format: plain },
];

/** The values any of the runs recorded, in CURVE_VALUES order. */
export function valuesPresent(runs: readonly { points: readonly CurvePoint[] }[]): CurveValue[] {
  return CURVE_VALUES.filter((v) => runs.some((r) => r.points.some((p) => p.values[v.name] !== undefined)));
}

/** True when `name` takes more than one value in some run (a constant learning rate needs no chart). */
export function varies(runs: readonly { points: readonly CurvePoint[] }[], name: string): boolean {
  return runs.some((r) => new Set(r.points.map((p) => p.values[name]).filter((v) => v !== undefined)).size > 1);
}

/** Adds points to a curve by step (a point at a step held replaces it); returns the curve in step order. */
export function mergeCurve(curve: readonly CurvePoint[], points: readonly CurvePoint[]): CurvePoint[] {
  const byStep = new Map(curve.map((p) => [p.step, p]));
  for (const p of points) byStep.set(p.step, p);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/**
 * A run recorded before curves were kept has only its per-epoch training series: those, as curve
 * points (one per epoch), so its charts are not empty. `startedAt`: the run's start, for wall time.
 */
export function curveOrEpochs(curves: readonly CurvePoint[], metrics: readonly MetricSeries[], startedAt: string | null): CurvePoint[] {
  if (curves.length) return [...curves];
  const train = metrics.filter((m) => m.phase === 'train' || m.phase === 'val');
  const byEpoch = new Map<number, CurvePoint>();
  const t0 = startedAt ? Date.parse(startedAt) : NaN;
  for (const s of train) {
    const name = s.phase === 'val' ? `val${s.name === 'r2' ? 'R2' : s.name[0].toUpperCase() + s.name.slice(1)}` : s.name;
    for (const p of s.points) {
      const epoch = p.epoch ?? p.step;
      let point = byEpoch.get(epoch);
      if (!point) byEpoch.set(epoch, (point = { step: p.step, epoch, wallMs: Number.isFinite(t0) ? Math.max(0, p.time - t0) : 0, values: {} }));
      if (Number.isFinite(p.value)) point.values[name] = p.value;
    }
  }
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}
