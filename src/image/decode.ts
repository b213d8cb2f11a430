import decodeJpeg, { init as initJpeg } from "@jsquash/jpeg/decode.js";
import decodeWebp, { init as initWebp } from "@jsquash/webp/decode.js";
import { decode as decodePng } from "fast-png";
import { ApiError } from "../errors.js";
import type { Pixels } from "./resize.js";

/**
 * Image bytes to RGB pixels, with Hugging Face's `convert_rgb` semantics (Pillow's `convert("RGB")`:
 * alpha is dropped, not composited; grey is repeated; a palette is looked up).
 *
 * Decoders: fast-png (pure JS) for PNG; for JPEG and WebP the Squoosh builds of mozjpeg and libwebp
 * (@jsquash), because no maintained pure-JS WebP decoder exists and mozjpeg decodes as
 * libjpeg-turbo does, which is what Pillow links. Their wasm is handed in as compiled modules
 * (`ImageCodecs`): workerd refuses to compile wasm at run time, so the worker imports the files and
 * wrangler precompiles them, as for onnxruntime.
 *
 * The size is read from the header first, so an image over the pixel limit (a decompression bomb)
 * is refused before anything is decoded.
 */
export interface ImageCodecs {
  jpeg: () => Promise<WebAssembly.Module>;
  webp: () => Promise<WebAssembly.Module>;
}

export type ImageFormat = "png" | "jpeg" | "webp";

/** 4 megapixels: 16 MB of RGBA while decoding, an eighth of an isolate. */
export const DEFAULT_MAX_PIXELS = 4 * 1024 * 1024;

export function imageError(message: string, code: string, param: string | null): ApiError {
  return new ApiError(400, message, code, param);
}

export function sniffFormat(bytes: Uint8Array): ImageFormat | "gif" | "bmp" | "tiff" | "avif" | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes[0] === 0x89 && ascii(1, 4) === "PNG") return "png";
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "webp";
  if (ascii(0, 4) === "GIF8") return "gif";
  if (ascii(0, 2) === "BM") return "bmp";
  if (ascii(0, 4) === "II*\0" || ascii(0, 4) === "MM\0*") return "tiff";
  if (ascii(4, 12) === "ftypavif") return "avif";
  return undefined;
}

const truncated = (param: string | null) =>
  imageError("The image is truncated: its header ends early.", "truncated_image", param);

/** Width and height from the header, without decoding. */
export function headerSize(bytes: Uint8Array, format: ImageFormat, param: string | null) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === "png") {
    if (bytes.length < 24) throw truncated(param);
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (format === "webp") {
    if (bytes.length < 30) throw truncated(param);
    const chunk = String.fromCharCode(...bytes.subarray(12, 16));
    if (chunk === "VP8 ")
      return { width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
    if (chunk === "VP8L") {
      const bits = view.getUint32(21, true);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === "VP8X") {
      const w = 1 + ((bytes[24] as number) | ((bytes[25] as number) << 8) | ((bytes[26] as number) << 16));
      const h = 1 + ((bytes[27] as number) | ((bytes[28] as number) << 8) | ((bytes[29] as number) << 16));
      return { width: w, height: h };
    }
    throw imageError(`The WebP image has an unknown chunk '${chunk}'.`, "invalid_image", param);
  }
  // JPEG: walk the markers to the first start-of-frame.
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw imageError("The JPEG image is corrupt.", "invalid_image", param);
    const marker = bytes[at + 1] as number;
    if (marker === 0xff) {
      at++;
      continue;
    }
    const length = view.getUint16(at + 2);
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (at + 9 > bytes.length) break;
      return { width: view.getUint16(at + 7), height: view.getUint16(at + 5) };
    }
    at += 2 + length;
  }
  throw truncated(param);
}

export interface DecodeOptions {
  maxPixels: number;
  /** The request field the bytes came from, named in errors. */
  param: string | null;
}

/** Decodes a PNG, JPEG or WebP image to 8-bit RGB. */
export async function decodeImage(
  bytes: Uint8Array,
  codecs: ImageCodecs,
  options: DecodeOptions,
): Promise<Pixels> {
  const { param } = options;
  const format = sniffFormat(bytes);
  if (format === undefined) {
    throw imageError("The data is not an image (no PNG, JPEG or WebP signature).", "invalid_image", param);
  }
  if (format !== "png" && format !== "jpeg" && format !== "webp") {
    throw imageError(
      `Unsupported image format '${format}'; send PNG, JPEG or WebP.`,
      "unsupported_image_format",
      param,
    );
  }
  const { width, height } = headerSize(bytes, format, param);
  if (width === 0 || height === 0) throw imageError("The image has no pixels.", "invalid_image", param);
  if (width * height > options.maxPixels) {
    throw imageError(
      `The image is ${width}x${height} (${width * height} pixels), over the limit of ${options.maxPixels} pixels.`,
      "image_too_large",
      param,
    );
  }
  try {
    if (format === "png") return pngToRgb(bytes);
    const rgba = format === "jpeg" ? await jpeg(bytes, codecs) : await webp(bytes, codecs);
    return dropAlpha(rgba.data, rgba.width, rgba.height);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw imageError(
      `The ${format.toUpperCase()} image cannot be decoded (truncated or corrupt).`,
      "invalid_image",
      param,
    );
  }
}

// The packages' type declarations omit the compiled-module argument their init() accepts.
type InitWithModule = (module: WebAssembly.Module) => Promise<void>;
let jpegReady: Promise<void> | undefined;
let webpReady: Promise<void> | undefined;

async function jpeg(bytes: Uint8Array, codecs: ImageCodecs) {
  jpegReady ??= codecs.jpeg().then((module) => (initJpeg as unknown as InitWithModule)(module));
  await jpegReady;
  return decodeJpeg(copyBuffer(bytes));
}

async function webp(bytes: Uint8Array, codecs: ImageCodecs) {
  webpReady ??= codecs.webp().then((module) => (initWebp as unknown as InitWithModule)(module));
  await webpReady;
  return decodeWebp(copyBuffer(bytes));
}

/** The decoders take an ArrayBuffer: a copy of exactly these bytes (a Node Buffer's slice() is a view). */
function copyBuffer(bytes: Uint8Array): ArrayBuffer {
  return new Uint8Array(bytes).buffer;
}

function dropAlpha(rgba: ArrayLike<number>, width: number, height: number): Pixels {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < data.length; i += 4, j += 3) {
    data[j] = rgba[i] as number;
    data[j + 1] = rgba[i + 1] as number;
    data[j + 2] = rgba[i + 2] as number;
  }
  return { width, height, channels: 3, data };
}

/** fast-png's output in Pillow's RGB: high byte of 16-bit samples, low bit depths scaled to 0-255. */
function pngToRgb(bytes: Uint8Array): Pixels {
  const png = decodePng(bytes);
  const { width, height, channels, depth } = png;
  const count = width * height;
  const data = new Uint8Array(count * 3);
  const sample = (i: number) => png.data[i] as number;
  if (png.palette) {
    const palette = png.palette;
    for (let p = 0; p < count; p++) {
      const entry = palette[sample(p)] ?? [0, 0, 0];
      data[p * 3] = entry[0] ?? 0;
      data[p * 3 + 1] = entry[1] ?? 0;
      data[p * 3 + 2] = entry[2] ?? 0;
    }
    return { width, height, channels: 3, data };
  }
  const to8 =
    depth === 16 ? (v: number) => v >> 8 : (v: number) => Math.round((v * 255) / ((1 << depth) - 1));
  const grey = channels <= 2;
  for (let p = 0; p < count; p++) {
    const at = p * channels;
    for (let c = 0; c < 3; c++) data[p * 3 + c] = to8(sample(grey ? at : at + c));
  }
  return { width, height, channels: 3, data };
}
