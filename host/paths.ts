import { join } from "node:path";

/** The checkout's bundled model folders and the built worker, wherever the caller runs from. */
export const ROOT_DIR = join(import.meta.dirname, "..");
export const MODELS_DIR = join(import.meta.dirname, "..", "models");
export const DIST_DIR = join(import.meta.dirname, "..", "dist");
/** The static pages wrangler.toml's [assets] serves (playground, docs). */
export const PUBLIC_DIR = join(import.meta.dirname, "..", "public");
/** workerd with the V8 flags this project needs locally (host/workerd.sh), for Miniflare to run. */
export const WORKERD_WRAPPER = join(import.meta.dirname, "workerd.sh");
