import { imageError } from "./decode.js";

/**
 * Images fetched from URLs a client names, for the operator who opts in with IMAGE_URL_HOSTS.
 * Off by default: a worker that fetches any URL on a client's behalf is an open proxy into whatever
 * the worker can reach. When on, only the listed hosts are fetched, redirects are followed by hand
 * so each hop is checked against the list, and one request's downloads share a byte and time limit,
 * so a slow or huge image cannot hold the isolate.
 */
export interface RemoteImagePolicy {
  /** Hosts (`name` or `name:port`) that may be fetched, or every host. */
  hosts: ReadonlySet<string> | "any";
  timeoutMs: number;
  /** Bytes all of one request's downloads may total. */
  maxBytes: number;
}

export const DEFAULT_IMAGE_FETCH_TIMEOUT_MS = 5000;
const MAX_REDIRECTS = 3;

/** The policy from IMAGE_URL_HOSTS ("" or unset: off; "*": any host; else a comma-separated list). */
export function remoteImagePolicy(
  hosts: string | undefined,
  timeoutMs: number,
  maxBytes: number,
): RemoteImagePolicy | undefined {
  const listed = (hosts ?? "")
    .split(",")
    .map((host) => host.trim().toLowerCase())
    .filter(Boolean);
  if (listed.length === 0) return undefined;
  return { hosts: listed.includes("*") ? "any" : new Set(listed), timeoutMs, maxBytes };
}

/**
 * Loopback hosts may be fetched over plain http, as browsers treat them as secure contexts: that is
 * how a local image server is used in development. Everything else must be https.
 */
function schemeAllowed(url: URL): boolean {
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

function hostAllowed(url: URL, policy: RemoteImagePolicy): boolean {
  return policy.hosts === "any" || policy.hosts.has(url.host) || policy.hosts.has(url.hostname);
}

/** One request's downloads: the byte allowance is shared by every image it fetches. */
export class ImageFetcher {
  private remaining: number;

  constructor(
    private readonly policy: RemoteImagePolicy,
    private readonly signal?: AbortSignal,
  ) {
    this.remaining = policy.maxBytes;
  }

  async fetch(address: string, param: string): Promise<Uint8Array> {
    const signals = [AbortSignal.timeout(this.policy.timeoutMs), ...(this.signal ? [this.signal] : [])];
    const signal = AbortSignal.any(signals);
    let url = this.checked(address, param);
    try {
      for (let hop = 0; ; hop++) {
        const response = await fetch(url, { redirect: "manual", signal, headers: { accept: "image/*" } });
        const location = response.headers.get("location");
        if (response.status >= 300 && response.status < 400 && location) {
          this.discard(response.body);
          if (hop === MAX_REDIRECTS) {
            throw imageError(
              `The image URL redirected more than ${MAX_REDIRECTS} times.`,
              "image_fetch_failed",
              param,
            );
          }
          url = this.checked(new URL(location, url).href, param);
          continue;
        }
        if (!response.ok) {
          this.discard(response.body);
          throw imageError(
            `Fetching the image failed: ${url.host} answered ${response.status}.`,
            "image_fetch_failed",
            param,
          );
        }
        return await this.readCapped(response, param);
      }
    } catch (error) {
      if (signal.aborted && !(this.signal?.aborted ?? false)) {
        throw imageError(
          `Fetching the image took longer than ${this.policy.timeoutMs} ms.`,
          "image_fetch_timeout",
          param,
        );
      }
      if (error instanceof TypeError) {
        throw imageError(
          `Fetching the image from ${url.host} failed: ${error.message}`,
          "image_fetch_failed",
          param,
        );
      }
      throw error;
    }
  }

  private checked(address: string, param: string): URL {
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw imageError("The image URL is not a valid URL.", "invalid_image_url", param);
    }
    if (!schemeAllowed(url)) {
      throw imageError("Image URLs must be https.", "image_url_not_allowed", param);
    }
    if (!hostAllowed(url, this.policy)) {
      throw imageError(
        `Images are not fetched from ${url.host}: the server lists the hosts it fetches from (IMAGE_URL_HOSTS).`,
        "image_url_not_allowed",
        param,
      );
    }
    return url;
  }

  /**
   * Drops a body that will not be read, without waiting: cancelling a response mid-body can wait on
   * the connection, and that wait is not bounded by the fetch's timeout.
   */
  private discard(body: { cancel(): Promise<void> } | null): void {
    body?.cancel().catch(() => undefined);
  }

  private tooLarge(param: string): never {
    throw imageError(
      `The images of this request are larger than ${this.policy.maxBytes} bytes together.`,
      "image_too_large",
      param,
    );
  }

  /** The body, refused as soon as it passes the request's remaining allowance (a declared length first). */
  private async readCapped(response: Response, param: string): Promise<Uint8Array> {
    const declared = Number(response.headers.get("content-length") ?? Number.NaN);
    if (declared > this.remaining) {
      this.discard(response.body);
      this.tooLarge(param);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = response.body?.getReader();
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > this.remaining) {
          this.discard(reader);
          this.tooLarge(param);
        }
        chunks.push(value);
      }
    }
    this.remaining -= total;
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return bytes;
  }
}
