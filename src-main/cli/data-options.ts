/** The `--input-scale` and `--resize` options every command that feeds data to a model takes. */
import type { Command } from 'commander';
import { ConfigError } from '../common/errors';
import { INPUT_SCALES, RESIZE_MODES, type InputScaleChoice, type ResizeMode } from '../common/input-prep';

function oneOf<T extends string>(flag: string, values: readonly T[]) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v)) throw new ConfigError(`${flag} must be one of ${values.join(', ')}, got "${v}"`);
    return v as T;
  };
}

/** Adds both options; read them back with dataPrep(opts). */
export function addDataPrepOptions(cmd: Command): Command {
  return cmd
    .option(
      '--input-scale <s>',
      'range 8-bit inputs (images, uint8 IDX/NPZ) are mapped to: 0-1 (x/255) | -1-1 (x/127.5-1, MobileNet/Teachable Machine) | 0-255 | auto ' +
        '(0-255 if the model starts with a Rescaling layer, -1-1 for a MobileNet stem, else 0-1)',
      oneOf('--input-scale', INPUT_SCALES),
      'auto',
    )
    .option(
      '--resize <m>',
      'how images are fitted to the model input: crop (cover, centre crop) | stretch | pad (fit, black borders)',
      oneOf('--resize', RESIZE_MODES),
      'crop',
    );
}

export function dataPrep(o: { inputScale?: InputScaleChoice; resize?: ResizeMode }): { inputScale: InputScaleChoice; resize: ResizeMode } {
  return { inputScale: o.inputScale ?? 'auto', resize: o.resize ?? 'crop' };
}
