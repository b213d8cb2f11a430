import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Miniflare } from "miniflare";

const run = promisify(execFile);

/** Where `wrangler dev` keeps local R2 data: models pushed here are what `npm run dev` serves. */
export const LOCAL_PERSIST = join(".wrangler", "state", "v3", "r2");

export interface ListedObject {
  key: string;
  size: number;
  uploaded: Date;
}

/** A bucket the CLI writes to: the local dev R2 (Miniflare persistence) or real R2 via wrangler. */
export interface Target {
  readonly description: string;
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Absent where the objects cannot be listed (wrangler has no command for it). */
  list?(prefix: string): Promise<ListedObject[]>;
  close(): Promise<void>;
}

export type ListableTarget = Target & Required<Pick<Target, "list">>;

export async function bucketName(configPath = "wrangler.toml"): Promise<string> {
  const toml = await readFile(configPath, "utf8");
  const match = /binding\s*=\s*"MODELS"\s*\n\s*bucket_name\s*=\s*"([^"]+)"/.exec(toml);
  if (!match?.[1]) throw new Error(`${configPath} has no R2 binding MODELS with a bucket_name.`);
  return match[1];
}

/** The R2 calls a Target needs: Miniflare's R2 bucket and workerd's both have them. */
interface R2Like {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
  put(key: string, value: Uint8Array): Promise<unknown>;
  delete(key: string): Promise<void>;
  list(options: { prefix: string; cursor?: string }): Promise<{
    objects: ListedObject[];
    truncated: boolean;
    cursor?: string;
  }>;
}

export function r2Target(r2: R2Like, description: string, close: () => Promise<void>): ListableTarget {
  return {
    description,
    async get(key) {
      const object = await r2.get(key);
      return object ? new Uint8Array(await object.arrayBuffer()) : null;
    },
    async put(key, bytes) {
      // Miniflare's serialiser wants a plain Uint8Array, not a Node Buffer.
      await r2.put(key, new Uint8Array(bytes));
    },
    delete: (key) => r2.delete(key),
    async list(prefix) {
      const objects: ListedObject[] = [];
      let cursor: string | undefined;
      do {
        const page = await r2.list({ prefix, cursor });
        objects.push(...page.objects.map((o) => ({ key: o.key, size: o.size, uploaded: o.uploaded })));
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
      return objects;
    },
    close,
  };
}

/** The local dev R2: the same persistence `wrangler dev` reads. */
export async function localTarget(persistTo = LOCAL_PERSIST): Promise<ListableTarget> {
  const bucket = await bucketName();
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response(null, { status: 404 }); } }",
    r2Buckets: { MODELS: bucket },
    r2Persist: persistTo,
  });
  const r2 = (await mf.getR2Bucket("MODELS")) as unknown as R2Like;
  return r2Target(r2, `local R2 '${bucket}' in ${persistTo}`, () => mf.dispose());
}

/** Real R2, through wrangler (which holds the account's credentials). */
export async function remoteTarget(): Promise<Target> {
  const bucket = await bucketName();
  const wrangler = (args: string[]) =>
    run("npx", ["wrangler", "r2", "object", ...args, "--remote"], { maxBuffer: 1 << 30 });
  const withTempFile = async <T>(use: (path: string) => Promise<T>): Promise<T> => {
    const dir = await mkdtemp(join(tmpdir(), "models-push-"));
    try {
      return await use(join(dir, "object"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  return {
    description: `R2 bucket '${bucket}' (remote)`,
    get: (key) =>
      withTempFile(async (path) => {
        try {
          await wrangler(["get", `${bucket}/${key}`, "--file", path]);
        } catch {
          return null;
        }
        return new Uint8Array(await readFile(path));
      }),
    put: (key, bytes) =>
      withTempFile(async (path) => {
        await writeFile(path, bytes);
        await wrangler(["put", `${bucket}/${key}`, "--file", path]);
      }),
    async delete(key) {
      await wrangler(["delete", `${bucket}/${key}`]);
    },
    close: async () => undefined,
  };
}
