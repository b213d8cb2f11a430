import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { MODELS_DIR } from "../../host/paths.js";

/** A file a recipe wrote for the tests: golden outputs, held-out splits, metrics. */
export const recipeFile = (recipe: string, file: string) => join(MODELS_DIR, "recipes", recipe, file);

export async function readRecipeJson<T>(recipe: string, file: string): Promise<T> {
  return JSON.parse(await readFile(recipeFile(recipe, file), "utf8")) as T;
}

/** One JSON value per line, as the recipes write their held-out splits. */
export async function readJsonl<T>(path: string): Promise<T[]> {
  return (await readFile(path, "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as T);
}
