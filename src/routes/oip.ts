import { type Context, Hono } from "hono";
import { setMetric } from "hono/timing";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import { readJson } from "../http.js";
import { type Manifest, type ManifestFile, onnxFiles, variantName } from "../runtime/manifest.js";
import { assertTensorRunFits } from "../tasks/tensor-run.js";
import {
  buildFeeds,
  checkOutputNames,
  describeTensors,
  OIP_DATATYPES,
  type OipDatatype,
  rejectedByModel,
  toOipOutputs,
} from "./oip-tensors.js";

/** The Open Inference Protocol (KServe v2), as Triton and KServe speak it, for any ONNX model. */
export const inferRequest = z.object({
  id: z.string().max(256).optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z
    .array(
      z.object({
        name: z.string().min(1).max(256),
        shape: z.array(z.number().int().nonnegative()).max(8),
        datatype: z.enum(Object.keys(OIP_DATATYPES) as [OipDatatype, ...OipDatatype[]]),
        data: z.array(z.unknown()),
        parameters: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .min(1)
    .max(64),
  outputs: z
    .array(z.object({ name: z.string().min(1), parameters: z.record(z.string(), z.unknown()).optional() }))
    .max(64)
    .optional(),
});

export const oip = new Hono<AppEnv>()
  .get("/v2", (c) => c.json({ name: "edge-inference", version: "1", extensions: [] }))
  .get("/v2/health/live", (c) => c.json({ live: true }))
  .get("/v2/health/ready", (c) => c.json({ ready: true }))
  .get("/v2/models/:id", (c) => metadata(c, undefined))
  .get("/v2/models/:id/versions/:version", (c) => metadata(c, c.req.param("version")))
  .get("/v2/models/:id/ready", (c) => ready(c, undefined))
  .get("/v2/models/:id/versions/:version/ready", (c) => ready(c, c.req.param("version")))
  .post("/v2/models/:id/infer", (c) => infer(c, undefined))
  .post("/v2/models/:id/versions/:version/infer", (c) => infer(c, c.req.param("version")));

async function metadata(c: Context<AppEnv>, version: string | undefined) {
  const manifest = await c.get("registry").manifest(c.req.param("id") ?? "");
  const file = pickVariant(manifest, version);
  const onnx = file.onnx;
  return c.json({
    name: manifest.id,
    versions: onnxFiles(manifest).map((f) => variantName(f.path)),
    platform: "onnxruntime_onnx",
    inputs: describeTensors(onnx?.inputs ?? []),
    outputs: describeTensors(onnx?.outputs ?? []),
  });
}

async function ready(c: Context<AppEnv>, version: string | undefined) {
  const registry = c.get("registry");
  const manifest = await registry.manifest(c.req.param("id") ?? "");
  return c.json({ ready: registry.isLoaded(manifest, pickVariant(manifest, version)) });
}

async function infer(c: Context<AppEnv>, version: string | undefined) {
  const registry = c.get("registry");
  const body = await readJson(c, inferRequest);
  const manifest = await registry.manifest(c.req.param("id") ?? "");
  const file = pickVariant(manifest, version);

  const loadStarted = performance.now();
  const lease = await registry.session(manifest, file);
  setMetric(c, "load", performance.now() - loadStarted, lease.hit ? "cached" : "loaded from R2");
  try {
    const session = lease.value;
    const feeds = buildFeeds(session, body.inputs);
    const requested = body.outputs?.map((output) => output.name);
    if (requested) checkOutputNames(session, requested);
    await assertTensorRunFits(registry, manifest, file, feeds);
    const { outputs, timing } = await session
      .timedRun(feeds, requested)
      .catch((error: unknown) => Promise.reject(rejectedByModel(error)));
    setMetric(c, "queue", timing.queueMs);
    setMetric(c, "run", timing.runMs);
    return c.json({
      model_name: manifest.id,
      model_version: variantName(file.path),
      ...(body.id === undefined ? {} : { id: body.id }),
      outputs: toOipOutputs(outputs),
    });
  } finally {
    lease.release();
  }
}

/**
 * A version is an ONNX variant of the folder (`model`, `model_quantized`, ...). Without one, the
 * only ONNX file, else the int8 `model_quantized`, else `model`.
 */
function pickVariant(manifest: Manifest, version: string | undefined): ManifestFile {
  const files = onnxFiles(manifest);
  const names = files.map((file) => variantName(file.path));
  if (version !== undefined) {
    const file = files.find((candidate) => variantName(candidate.path) === version);
    if (!file) {
      throw new ApiError(
        404,
        `The model '${manifest.id}' has no version '${version}'. Its versions are: ${names.join(", ")}.`,
        "version_not_found",
        "version",
      );
    }
    return file;
  }
  const only = files.length === 1 ? files[0] : undefined;
  const chosen =
    only ??
    files.find((file) => variantName(file.path) === "model_quantized") ??
    files.find((file) => variantName(file.path) === "model");
  if (!chosen) {
    throw new ApiError(
      400,
      `The model '${manifest.id}' has several ONNX files; choose one with /v2/models/${manifest.id}/versions/{version}: ${names.join(", ")}.`,
      "version_required",
      "version",
    );
  }
  return chosen;
}
