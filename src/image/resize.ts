/**
 * Pillow's `Image.resize` for 8-bit images, reproduced to the bit: Hugging Face's (non-fast) image
 * processors resize the uint8 image with Pillow before rescaling, so matching their pixel values means
 * matching Pillow's separable convolution, its fixed-point weights and its rounding. Downscaling
 * widens the filter by the scale factor (antialiasing); the horizontal pass runs first, over the rows
 * the vertical pass will read.
 */

/** Pillow's resampling filter numbers, as `preprocessor_config.json` stores them in `resample`. */
export const Resample = { nearest: 0, lanczos: 1, bilinear: 2, bicubic: 3, box: 4, hamming: 5 } as const;

interface Filter {
  support: number;
  weight(x: number): number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const FILTERS: Record<number, Filter> = {
  [Resample.box]: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  [Resample.bilinear]: {
    support: 1,
    weight: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  [Resample.hamming]: {
    support: 1,
    weight: (x) => {
      const a = Math.abs(x);
      if (a === 0) return 1;
      if (a >= 1) return 0;
      const px = a * Math.PI;
      return (Math.sin(px) / px) * (0.54 + 0.46 * Math.cos(px));
    },
  },
  [Resample.bicubic]: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  [Resample.lanczos]: { support: 3, weight: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** Pillow's fixed point: weights carry 22 fractional bits, so 8-bit sums fit in an int32. */
const PRECISION_BITS = 32 - 8 - 2;

interface Coefficients {
  /** Window size per output pixel. */
  size: number;
  /** First input index and tap count, per output pixel. */
  bounds: Int32Array;
  /** Fixed-point weights, `size` per output pixel. */
  weights: Int32Array;
}

function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = filter.support * filterScale;
  const size = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * size);
  const taps = new Float64Array(size);
  const inverse = 1 / filterScale;
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    // C's (int) cast truncates toward zero; both bounds are clamped to the image.
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const count = Math.min(inSize, Math.trunc(center + support + 0.5)) - first;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const w = filter.weight((i + first - center + 0.5) * inverse);
      taps[i] = w;
      total += w;
    }
    for (let i = 0; i < size; i++) {
      const w = i < count && total !== 0 ? (taps[i] as number) / total : 0;
      const fixed = w * (1 << PRECISION_BITS);
      weights[out * size + i] = w < 0 ? Math.trunc(-0.5 + fixed) : Math.trunc(0.5 + fixed);
    }
    bounds[out * 2] = first;
    bounds[out * 2 + 1] = count;
  }
  return { size, bounds, weights };
}

function clip8(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return Math.max(0, Math.min(255, v));
}

const HALF = 1 << (PRECISION_BITS - 1);

/** Interleaved 8-bit pixels of any channel count. */
export interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** `Image.resize((width, height), resample)` on an 8-bit image, as Pillow computes it. */
export function resize(image: Pixels, width: number, height: number, resample: number): Pixels {
  if (image.width === width && image.height === height) return image;
  if (resample === Resample.nearest) return nearest(image, width, height);
  const filter = FILTERS[resample];
  if (!filter) throw new RangeError(`Unknown resampling filter ${resample}.`);
  const { channels } = image;
  const horizontal = coefficients(image.width, width, filter);
  const vertical = coefficients(image.height, height, filter);
  let source = image;
  let rowOffset = 0;
  if (width !== image.width) {
    // Only the rows the vertical pass reads are resampled horizontally.
    const firstRow = height !== image.height ? (vertical.bounds[0] as number) : 0;
    const lastRow =
      height !== image.height
        ? (vertical.bounds[height * 2 - 2] as number) + (vertical.bounds[height * 2 - 1] as number)
        : image.height;
    const rows = lastRow - firstRow;
    const data = new Uint8Array(width * rows * channels);
    for (let y = 0; y < rows; y++) {
      const inRow = (y + firstRow) * image.width * channels;
      for (let x = 0; x < width; x++) {
        const first = horizontal.bounds[x * 2] as number;
        const count = horizontal.bounds[x * 2 + 1] as number;
        const k = x * horizontal.size;
        for (let c = 0; c < channels; c++) {
          let sum = HALF;
          for (let i = 0; i < count; i++) {
            sum +=
              (image.data[inRow + (first + i) * channels + c] as number) *
              (horizontal.weights[k + i] as number);
          }
          data[(y * width + x) * channels + c] = clip8(sum);
        }
      }
    }
    source = { width, height: rows, channels, data };
    rowOffset = firstRow;
  }
  if (height === image.height) return source;
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const first = (vertical.bounds[y * 2] as number) - rowOffset;
    const count = vertical.bounds[y * 2 + 1] as number;
    const k = y * vertical.size;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = HALF;
        for (let i = 0; i < count; i++) {
          sum +=
            (source.data[((first + i) * width + x) * channels + c] as number) *
            (vertical.weights[k + i] as number);
        }
        data[(y * width + x) * channels + c] = clip8(sum);
      }
    }
  }
  return { width, height, channels, data };
}

/** Pillow's nearest neighbour: the source pixel under each output pixel's centre. */
function nearest(image: Pixels, width: number, height: number): Pixels {
  const { channels } = image;
  const data = new Uint8Array(width * height * channels);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const from = Math.min(image.height - 1, Math.floor((y + 0.5) * sy));
    for (let x = 0; x < width; x++) {
      const fx = Math.min(image.width - 1, Math.floor((x + 0.5) * sx));
      for (let c = 0; c < channels; c++) {
        data[(y * width + x) * channels + c] = image.data[(from * image.width + fx) * channels + c] as number;
      }
    }
  }
  return { width, height, channels, data };
}
