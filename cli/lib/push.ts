import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  MANIFEST_FILE,
  type Manifest,
  manifestSchema,
  modelKey,
  type Task,
} from "../../src/runtime/manifest.js";
import { buildManifest, hashFolder, sameFiles } from "./model-folder.js";
import { Progress } from "./progress.js";
import type { Target } from "./targets.js";

export interface PushOptions {
  folder: string;
  id: string;
  task?: Task;
  /** Upload even when the store already holds exactly these files. */
  force?: boolean;
  quiet?: boolean;
}

export type PushResult =
  | { status: "pushed"; manifest: Manifest }
  | { status: "unchanged"; manifest: Manifest };

export async function readStoredManifest(target: Target, id: string): Promise<Manifest | undefined> {
  const bytes = await target.get(modelKey(id, MANIFEST_FILE));
  if (!bytes) return undefined;
  const parsed = manifestSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
  return parsed.success ? parsed.data : undefined;
}

/**
 * Publishes a model folder. The old manifest goes first and the new one last, so readers see
 * either the previous model whole, nothing, or the new model whole: never a half-written one.
 */
export async function pushModel(target: Target, options: PushOptions): Promise<PushResult> {
  const log = (line: string) => {
    if (!options.quiet) process.stderr.write(`${line}\n`);
  };
  const stored = await readStoredManifest(target, options.id);
  if (stored && !options.force && sameFiles(stored, await hashFolder(options.folder))) {
    log(`${options.id}: unchanged in ${target.description}`);
    return { status: "unchanged", manifest: stored };
  }

  let inspecting: Progress | undefined;
  const manifest = await buildManifest(options.folder, {
    id: options.id,
    task: options.task,
    onInspect: (path, _index, total) => {
      if (options.quiet) return;
      inspecting ??= new Progress(`${options.id}: inspecting`, total, "items");
      inspecting.advance(1, path);
    },
  });
  inspecting?.finish();

  if (stored) await target.delete(modelKey(options.id, MANIFEST_FILE));
  const total = manifest.files.reduce((sum, file) => sum + file.size, 0);
  const upload = options.quiet ? undefined : new Progress(`${options.id}: uploading`, total);
  for (const file of manifest.files) {
    const bytes = new Uint8Array(await readFile(join(options.folder, file.path)));
    await target.put(modelKey(options.id, file.path), bytes);
    upload?.advance(file.size, file.path);
  }
  upload?.finish();
  const json = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  await target.put(modelKey(options.id, MANIFEST_FILE), json);
  log(
    `${options.id}: ${manifest.files.length} files, task ${manifest.task}, pushed to ${target.description}`,
  );
  return { status: "pushed", manifest };
}
