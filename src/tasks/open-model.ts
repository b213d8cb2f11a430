import { ApiError } from "../errors.js";
import type { Lease } from "../runtime/isolate-cache.js";
import { LeaseGroup } from "../runtime/lease-group.js";
import { findFile, type Manifest, type Task } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import { ChatTemplate } from "../text/chat-template.js";
import { TextTokenizer } from "../text/tokenizer.js";
import { genaiGenerationConfig, genaiModelConfig, readGenaiConfig } from "./genai-config.js";
import {
  type GenerationConfig,
  type ModelConfig,
  readGenerationConfig,
  readModelConfig,
} from "./model-config.js";

/**
 * The one way a task opens a model: check that the model is for this task, then take every
 * lease the task needs (text assets, sessions) through one group, which releases all of them if
 * any step fails. The returned lease releases them together.
 */
export function openForTask<T>(
  manifest: Manifest,
  tasks: readonly Task[],
  what: string,
  build: (group: LeaseGroup) => Promise<T>,
): Promise<Lease<T>> {
  if (!tasks.includes(manifest.task)) {
    return Promise.reject(
      new ApiError(
        400,
        `The model '${manifest.id}' is a ${manifest.task} model, not ${what} model.`,
        "wrong_task",
        "model",
      ),
    );
  }
  return LeaseGroup.open(build);
}

/** How every task opens a model: a manifest and an optional dtype in, one lease out. */
export type Opener<T> = (registry: ModelRegistry, manifest: Manifest, dtype?: string) => Promise<Lease<T>>;

export interface TextAssets {
  tokenizer: TextTokenizer;
  template?: ChatTemplate;
  config: ModelConfig;
  generation: GenerationConfig;
}

const TEXT_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "config.json",
  "generation_config.json",
  "genai_config.json",
];

/** Tokenizer, chat template and configs, built once per isolate per model. */
export function textAssets(registry: ModelRegistry, manifest: Manifest): Promise<Lease<TextAssets>> {
  // Parsed tokenizers take a few times their JSON size in JS heap.
  const cost = TEXT_FILES.reduce((sum, path) => sum + (findFile(manifest, path)?.size ?? 0), 0) * 4;
  return registry.asset<TextAssets>(manifest, "text", cost, async () => {
    const [tokenizerJson, tokenizerConfig, config, generationConfig, genaiJson] = await Promise.all(
      TEXT_FILES.map((path) => registry.readJson(manifest, path)),
    );
    if (!tokenizerJson) {
      throw new ApiError(
        400,
        `The model '${manifest.id}' has no tokenizer.json.`,
        "model_file_missing",
        "model",
      );
    }
    const tokenizer = new TextTokenizer({ tokenizerJson, tokenizerConfig: tokenizerConfig ?? {} });
    // An onnxruntime-genai folder says in genai_config.json what the two Hugging Face files say.
    const genai = genaiJson && readGenaiConfig(genaiJson);
    return {
      tokenizer,
      template: ChatTemplate.fromTokenizer(tokenizer),
      config: readModelConfig(config ?? (genai && genaiModelConfig(genai))),
      generation: readGenerationConfig(generationConfig ?? (genai && genaiGenerationConfig(genai))),
    };
  });
}

/** The id of a special token named in tokenizer_config.json (`eos_token`, `pad_token`, ...). */
export function specialTokenId(tokenizer: TextTokenizer, name: string): number | undefined {
  const token = tokenizer.special(name);
  return token === undefined ? undefined : tokenizer.tokenId(token);
}
