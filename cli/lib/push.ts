import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  MANIFEST_FILE,
  MANIFEST_VERSION,
  type Manifest,
  manifestSchema,
  modelKey,
  ortFile,
  type StoredFile,
  storedFiles,
  storeKey,
  type Task,
} from "../../src/runtime/manifest.js";
import { loraBase } from "./lora/adapter.js";
import { buildManifest, hashFolder, sameFiles } from "./model-folder.js";
import { Progress } from "./progress.js";
import type { ListedObject, Target } from "./targets.js";

export interface PushOptions {
  folder: string;
  id: string;
  task?: Task;
  /** Upload every file again and rewrite the manifest, even when the store already has them. */
  force?: boolean;
  quiet?: boolean;
}

export type PushResult =
  | { status: "pushed"; manifest: Manifest }
  | { status: "unchanged"; manifest: Manifest };

/** The manifest a bucket holds for a model; undefined when it is missing, not JSON or invalid. */
export async function readStoredManifest(target: Target, id: string): Promise<Manifest | undefined> {
  const bytes = await target.get(modelKey(id, MANIFEST_FILE));
  if (!bytes) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  const parsed = manifestSchema.safeParse(json);
  return parsed.success && parsed.data.id === id ? parsed.data : undefined;
}

/**
 * Publishes a model folder without a moment where readers fail.
 *
 * Files are stored under their sha256, so uploading never touches a file the current manifest
 * names; the new manifest then replaces the old one in one write. Readers see the previous model
 * whole or the new one whole. Files that neither manifest names and that are older than the
 * previous push are removed afterwards: a reader that cached a manifest from two pushes ago finds
 * its file gone and reads the manifest again (see the registry).
 */
export async function pushModel(target: Target, options: PushOptions): Promise<PushResult> {
  const log = (line: string) => {
    if (!options.quiet) process.stderr.write(`${line}\n`);
  };
  const stored = await readStoredManifest(target, options.id);
  if (
    stored?.schema_version === MANIFEST_VERSION &&
    !options.force &&
    sameFiles(stored, await hashFolder(options.folder))
  ) {
    log(`${options.id}: unchanged in ${target.description}`);
    return { status: "unchanged", manifest: stored };
  }

  const ortDir = await mkdtemp(join(tmpdir(), "models-push-ort-"));
  try {
    let inspecting: Progress | undefined;
    const manifest = await buildManifest(options.folder, {
      id: options.id,
      task: options.task,
      ortDir,
      onInspect: (path, _index, total) => {
        if (options.quiet) return;
        inspecting ??= new Progress(`${options.id}: inspecting`, total, "items");
        inspecting.advance(1, path);
      },
    });
    inspecting?.finish();
    // A base that serves adapters keeps serving them: its new files get LoRA-ready copies too.
    const lora = stored?.lora
      ? await loraBase(
          manifest,
          async (file) => new Uint8Array(await readFile(join(options.folder, file.path))),
        )
      : undefined;
    if (lora) manifest.lora = lora.lora;

    const before = await target.list?.(modelKey(options.id, ""));
    const present = new Map(before?.map((object) => [object.key, object.size]));
    const uploads: { file: StoredFile; source: string }[] = manifest.files.flatMap((file) => {
      const ort = ortFile(file);
      const own = { file, source: join(options.folder, file.path) };
      return ort ? [own, { file: ort, source: join(ortDir, ort.path) }] : [own];
    });
    const total = uploads.reduce((sum, upload) => sum + upload.file.size, 0);
    const progress = options.quiet ? undefined : new Progress(`${options.id}: uploading`, total);
    for (const { file, source } of uploads) {
      const key = storeKey(manifest, file);
      // The key is the content's sha256: an object of the right size there is this file.
      if (options.force || present.get(key) !== file.size) {
        await target.put(key, new Uint8Array(await readFile(source)));
      }
      progress?.advance(file.size, file.path);
    }
    progress?.finish();
    for (const upload of lora?.uploads ?? []) await target.put(upload.key, upload.bytes);
    const json = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
    await target.put(modelKey(options.id, MANIFEST_FILE), json);

    const removed = before ? await removeUnused(target, options.id, before, [manifest, stored]) : 0;
    log(
      `${options.id}: ${manifest.files.length} files, task ${manifest.task}, pushed to ${target.description}` +
        (removed > 0 ? `; ${removed} unused file(s) removed` : "") +
        (before ? "" : "; this target cannot list its objects, so files of older pushes were kept"),
    );
    return { status: "pushed", manifest };
  } finally {
    await rm(ortDir, { recursive: true, force: true });
  }
}

/**
 * Deletes the objects of a model that neither the new nor the previous manifest names, among
 * those uploaded before the previous manifest was written (`listed` is the listing from before
 * this push). Later ones may belong to a push still under way; the next push collects them.
 */
async function removeUnused(
  target: Target,
  id: string,
  listed: ListedObject[],
  manifests: (Manifest | undefined)[],
): Promise<number> {
  const manifestKey = modelKey(id, MANIFEST_FILE);
  const previousPush = listed.find((object) => object.key === manifestKey)?.uploaded;
  if (!previousPush) return 0;
  const named = new Set([manifestKey]);
  for (const manifest of manifests) {
    if (!manifest) continue;
    for (const file of storedFiles(manifest)) named.add(storeKey(manifest, file));
  }
  const unused = listed.filter((object) => !named.has(object.key) && object.uploaded < previousPush);
  for (const object of unused) await target.delete(object.key);
  return unused.length;
}
