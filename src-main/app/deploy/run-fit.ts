/**
 * The end of a run with a device profile: which exported file the profile ships, and the fit check
 * the wizard uses (engine/fit) applied to each exported file of the profile's format, read from
 * disk. A profile numeric type the run did not export (float32 beside an int8 file, or the
 * profile's own type when the run exported nothing it takes) is judged on a fresh export, marked
 * as such, so the verdict always answers "does it fit?".
 */
import fs from 'node:fs';
import type * as tf from '@tensorflow/tfjs';
import type { FileFitVerdict, RunFitVerdict } from '../../common/contract';
import type { FitReport, NumericType, Profile } from '../../common/profiles';
import { checkFit, checkTfliteFile, formatFor, numericTypesFor, tfjsQuantFor, tfliteQuantFor } from '../../engine/fit';
import { adviceFor } from './advice';
import type { ShipOrder } from './shipped';

/** The artifact fields the check reads. */
export interface JudgedArtifact {
  path: string;
  format: string;
  quant: string;
  status: string;
  verification: unknown;
}

/** What the profile ships, best first: its format with each numeric type it takes, preferred first. */
export function shipOrder(profile: Profile): ShipOrder {
  const format = formatFor(profile);
  const quants = numericTypesFor(profile).map((t) => (format === 'tfjs' ? tfjsQuantFor(t) : tfliteQuantFor(t)));
  return { profileId: profile.id, prefer: [...new Set(quants)].map((quant) => ({ format, quant })) };
}

/** The profile numeric type an exported file has. @example numericTypeOf('tfjs', 'uint8') // 'dynamic-int8' */
export function numericTypeOf(format: string, quant: string): NumericType {
  if (quant === 'none') return 'float32';
  if (format === 'tfjs') return quant === 'float16' ? 'float16' : 'dynamic-int8';
  return quant as NumericType;
}

/**
 * Judges the run's files against `profile`. `shipped` names the headline file (format + quant).
 * @example await runFitVerdict(pruned, profile, artifacts, { macs, params, shipped: { format: 'tflite', quant: 'int8' } })
 */
export async function runFitVerdict(
  model: tf.LayersModel,
  profile: Profile,
  artifacts: readonly JudgedArtifact[],
  o: { macs: number; params: number; shipped: { format: string | null; quant: string | null } },
): Promise<RunFitVerdict> {
  const format = formatFor(profile);
  const notes: string[] = [];
  const files: FileFitVerdict[] = [];
  const classOf = (layer: string): string => model.layers.find((l) => l.name === layer)?.getClassName() ?? '';
  const judged = new Set<string>();
  for (const a of artifacts) {
    if (a.format !== format) {
      notes.push(`${a.format} ${a.quant} export not judged: profile ${profile.id} loads ${format} files`);
      continue;
    }
    if (judged.has(a.quant)) continue;
    judged.add(a.quant);
    const numericType = numericTypeOf(a.format, a.quant);
    let report: FitReport;
    try {
      report = format === 'tflite'
        ? checkTfliteFile(new Uint8Array(fs.readFileSync(a.path)), profile, { numericType, macs: o.macs, params: o.params, classOf })
        : (await checkFit(model, profile, { numericType, analysis: o })).report;
    } catch (err) {
      notes.push(`${a.format} ${a.quant} export not judged: ${(err as Error).message}`);
      continue;
    }
    if (format === 'tfjs') report.notes.push('tfjs: judged on a fresh export of the same model and quantization as the artifact');
    // The verifier timed the file itself: that is the host latency the wizard's check measures.
    const v = (a.verification ?? {}) as { latencyMs?: unknown; runtime?: unknown };
    if (typeof v.latencyMs === 'number' && Number.isFinite(v.latencyMs)) {
      report.latency.hostMs = v.latencyMs;
      report.latency.hostRuntime = `${typeof v.runtime === 'string' ? v.runtime : 'verifier'}, this host`;
    }
    if (a.status === 'failed') report.notes.push('this file failed verification: its outputs differ from the model\'s');
    files.push(verdict(profile, a.format, a.quant, true, a.path, report, o.shipped));
  }
  // The profile's own first type when nothing it takes was exported, and float32 beside a quantized file.
  const extra: NumericType[] = [];
  if (files.length === 0) extra.push(numericTypesFor(profile)[0] ?? profile.numericTypes.preferred[0]);
  if (!files.some((f) => f.report.numericType === 'float32') && profile.numericTypes.allowed.includes('float32') && !extra.includes('float32')) extra.push('float32');
  for (const numericType of extra) {
    try {
      const { report } = await checkFit(model, profile, { numericType, analysis: o });
      report.notes.push('not exported by this run: judged on a fresh export made for this check');
      const quant = format === 'tfjs' ? tfjsQuantFor(numericType) : tfliteQuantFor(numericType);
      files.push(verdict(profile, format, quant, false, null, report, o.shipped));
    } catch (err) {
      notes.push(`${numericType} not judged: ${(err as Error).message}`);
    }
  }
  const headline = files.find((f) => f.shipped) ?? files.find((f) => !f.exported);
  if (!files.some((f) => f.exported)) notes.push(`the run made no ${format} export: the verdict is for a fresh ${headline?.report.numericType ?? ''} export; add --export ${format}:${headline?.quant ?? 'int8'} to ship one`);
  return { profileId: profile.id, profileName: profile.name, fits: headline?.report.fits ?? false, files, notes };
}

function verdict(
  profile: Profile,
  format: string,
  quant: string,
  exported: boolean,
  path: string | null,
  report: FitReport,
  shipped: { format: string | null; quant: string | null },
): FileFitVerdict {
  return {
    format: format as 'tflite' | 'tfjs',
    quant,
    exported,
    path,
    shipped: exported && shipped.format === format && shipped.quant === quant,
    report,
    advice: adviceFor(report, profile.numericTypes.allowed),
  };
}
