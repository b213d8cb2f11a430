import { Hono } from "hono";
import type { AppEnv } from "../env.js";
import { findFile, loraPath, type Manifest, onnxFiles, totalSize, variantName } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import { findModelFor } from "./aliases.js";

/** OpenAI's model list, with what this service adds: task, size, variants, loaded here or not. */
export const models = new Hono<AppEnv>()
  .get("/v1/models", async (c) => {
    const registry = c.get("registry");
    const manifests = await registry.list();
    return c.json({ object: "list", data: manifests.map((m) => describeModel(registry, m)) });
  })
  // The id may be an alias with slashes (`@cf/meta/...`) or carry a dtype; the model is described
  // under the name the client asked for.
  .get("/v1/models/:id{.+}", async (c) => {
    const { manifest } = await findModelFor(c, c.req.param("id"));
    return c.json({ ...describeModel(c.get("registry"), manifest), id: c.req.param("id") });
  });

function describeModel(registry: ModelRegistry, manifest: Manifest) {
  const variants = onnxFiles(manifest).map((file) => {
    // A base that serves adapters runs the LoRA-ready copy of each file.
    const served = (manifest.lora && findFile(manifest, loraPath(file.path))) || file;
    return {
      name: variantName(file.path),
      size_bytes: file.size,
      memory_bytes: served.onnx?.memory_bytes,
      loaded: registry.isLoaded(manifest, served),
    };
  });
  return {
    id: manifest.id,
    object: "model",
    created: Math.floor(Date.parse(manifest.created_at) / 1000) || 0,
    owned_by: "edge-inference",
    task: manifest.task,
    size_bytes: totalSize(manifest),
    loaded: variants.some((variant) => variant.loaded),
    variants,
    ...(manifest.languages ? { languages: manifest.languages } : {}),
    // vLLM's fields for a LoRA adapter: the model it runs on.
    ...(manifest.adapter
      ? {
          parent: manifest.adapter.base,
          root: manifest.adapter.base,
          lora: {
            rank: manifest.adapter.rank,
            alpha: manifest.adapter.alpha,
            target_modules: manifest.adapter.target_modules,
          },
        }
      : {}),
  };
}
