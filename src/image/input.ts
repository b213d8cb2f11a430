import { imageError } from "./decode.js";
import type { ImageFetcher } from "./remote.js";

/**
 * Image bytes from request fields: `data:` URLs (OpenAI's image_url), bare base64 and byte arrays
 * (Workers AI), and http(s) URLs only when the operator allows remote images (a fetcher is given).
 */
export async function bytesFromUrl(url: string, param: string, fetcher?: ImageFetcher): Promise<Uint8Array> {
  if (/^https?:/i.test(url)) {
    if (fetcher) return fetcher.fetch(url, param);
    throw imageError(
      "Image URLs are not fetched by this server; send the image inline as a data: URL (data:image/png;base64,...).",
      "image_url_not_allowed",
      param,
    );
  }
  const match = /^data:([^;,]*)((?:;[^;,]*)*),/i.exec(url);
  if (!match) throw imageError("The image URL must be a data: URL.", "invalid_image_url", param);
  const data = url.slice(match[0].length);
  if (!/;base64$/i.test(match[2] ?? "")) {
    throw imageError("The data: URL must be base64-encoded (;base64,).", "invalid_image_url", param);
  }
  return bytesFromBase64(data, param);
}

export function bytesFromBase64(text: string, param: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  if (clean.length === 0 || clean.length % 4 === 1 || !/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) {
    throw imageError("The image is not valid base64.", "invalid_base64", param);
  }
  const binary = atob(clean);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
