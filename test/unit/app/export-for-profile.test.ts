import { describe, expect, it } from 'vitest';
import { builtinProfile } from '../../../src-main/common/profiles';
import { exportForProfile } from '../../../src-main/app/run-pipeline';

describe("a run's exports as its device takes them", () => {
  const int8 = { format: 'tflite', quant: 'int8', verifySamples: 20 } as const;

  it('keeps weights dense for a runtime without DENSIFY (TFLite Micro), unless the request says otherwise', () => {
    const mcu = builtinProfile('mcu-cortex-m4');
    expect(mcu?.supportedOps).not.toContain('DENSIFY');
    expect(exportForProfile(int8, mcu)).toMatchObject({ sparse: 'never' });
    expect(exportForProfile({ ...int8, sparse: 'always' }, mcu)).toMatchObject({ sparse: 'always' });
  });

  it('leaves the choice to the exporter where the runtime reads sparse tensors, for tfjs, and with no profile', () => {
    const phone = builtinProfile('mobile-midrange');
    expect(phone?.supportedOps).toContain('DENSIFY');
    expect(exportForProfile(int8, phone)).toEqual(int8);
    expect(exportForProfile({ format: 'tfjs', quant: 'uint8', verifySamples: 20 }, builtinProfile('mcu-cortex-m4'))).toEqual({ format: 'tfjs', quant: 'uint8', verifySamples: 20 });
    expect(exportForProfile(int8, undefined)).toEqual(int8);
  });
});
