/**
 * How raw data becomes model input: the value range 8-bit data is mapped to ("input scaling") and how
 * an image of any size is fitted to the model's input height and width. Pure data shared by the
 * CLI, the run config, the wizard and the dataset readers.
 */

/**
 * Value ranges for 8-bit sources (image folders, uint8 IDX/NPY arrays); float sources are left as
 * stored. `auto` is resolved per model (see app/input-scale.ts) and the resolved value is recorded.
 * - `0-1`:   x / 255              (Keras `Rescaling(1/255)`, most small CNNs, the demo model)
 * - `-1-1`:  x / 127.5 - 1        (MobileNet `preprocess_input`, Teachable Machine image models)
 * - `0-255`: x                    (models that scale inside, e.g. a leading Rescaling layer)
 */
export const INPUT_SCALES = ['auto', '0-1', '-1-1', '0-255'] as const;
export type InputScaleChoice = (typeof INPUT_SCALES)[number];
export type InputScale = Exclude<InputScaleChoice, 'auto'>;

/**
 * Fitting an image to the model's H x W:
 * - `crop` (default): scale so the image covers H x W, then take the centre (Teachable Machine's
 *   centre square crop, Keras `crop_to_aspect_ratio=True` / `smart_resize`); nothing is distorted.
 * - `stretch`: scale each axis independently (Keras `image_dataset_from_directory` default).
 * - `pad`: scale so the image fits inside H x W, centre it, fill the rest with black (letterbox).
 */
export const RESIZE_MODES = ['crop', 'stretch', 'pad'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];

/** The affine map v = byte * scale + offset an input scale applies to 8-bit values. */
export function byteMapping(s: InputScale): { scale: number; offset: number } {
  switch (s) {
    case '0-1': return { scale: 1 / 255, offset: 0 };
    case '-1-1': return { scale: 1 / 127.5, offset: -1 };
    case '0-255': return { scale: 1, offset: 0 };
  }
}

/** Human form for logs and the UI: "[-1, 1] (x/127.5 - 1)". */
export function describeInputScale(s: InputScale): string {
  switch (s) {
    case '0-1': return '[0, 1] (x/255)';
    case '-1-1': return '[-1, 1] (x/127.5 - 1)';
    case '0-255': return '[0, 255] (x as stored)';
  }
}
