import { z } from "zod";

/**
 * The numbers the engine reads from a folder's config.json and generation_config.json, in one
 * schema. Each architecture names them its own way (GPT-2's `n_head`, Marian's `d_model`, ...);
 * the aliases are resolved here, once. A field of the wrong type counts as absent, as in
 * transformers, so an odd config never breaks a model that does not need that field.
 */
const number = z.number().finite().optional().catch(undefined);
const flag = z.boolean().optional().catch(undefined);
const ids = z
  .union([z.number().int(), z.array(z.number().int())])
  .optional()
  .catch(undefined);

const rawConfig = z.looseObject({
  num_attention_heads: number,
  n_head: number,
  num_heads: number,
  decoder_attention_heads: number,
  num_key_value_heads: number,
  hidden_size: number,
  n_embd: number,
  d_model: number,
  head_dim: number,
  d_kv: number,
  intermediate_size: number,
  n_inner: number,
  ffn_dim: number,
  decoder_ffn_dim: number,
  d_ff: number,
  vocab_size: number,
  num_hidden_layers: number,
  n_layer: number,
  decoder_layers: number,
  num_layers: number,
  max_position_embeddings: number,
  n_positions: number,
  n_ctx: number,
  eos_token_id: ids,
  pad_token_id: number,
  decoder_start_token_id: number,
  id2label: z.record(z.string(), z.string()).optional().catch(undefined),
  problem_type: z.string().optional().catch(undefined),
});

const rawGeneration = z.looseObject({
  max_new_tokens: number,
  max_length: number,
  do_sample: flag,
  temperature: number,
  top_k: number,
  top_p: number,
  min_p: number,
  repetition_penalty: number,
  num_beams: number,
  length_penalty: number,
  early_stopping: z
    .union([z.boolean(), z.literal("never")])
    .optional()
    .catch(undefined),
  no_repeat_ngram_size: number,
  eos_token_id: ids,
  pad_token_id: number,
  decoder_start_token_id: number,
  forced_bos_token_id: number,
  forced_eos_token_id: number,
  bad_words_ids: z.array(z.array(z.number().int())).optional().catch(undefined),
});

export interface ModelConfig {
  /** Attention heads of the decoder (of the model, for decoder-only and encoder models). */
  heads?: number;
  kvHeads?: number;
  headDim?: number;
  hidden?: number;
  /** Width of the feed-forward layer (GPT-2's `n_inner` defaults to 4x the hidden size). */
  intermediate?: number;
  vocabSize?: number;
  /** Decoder layers (of the model, for decoder-only and encoder models). */
  layers?: number;
  /** Longest sequence the position embeddings cover, when the config says. */
  contextLength?: number;
  eosIds: number[];
  padId?: number;
  decoderStartId?: number;
  /** id2label in id order. */
  labels: string[];
  multiLabel: boolean;
}

export type GenerationConfig = z.infer<typeof rawGeneration>;

export function readModelConfig(json: Record<string, unknown> | undefined): ModelConfig {
  const c = rawConfig.parse(json ?? {});
  const heads = c.decoder_attention_heads ?? c.num_attention_heads ?? c.num_heads ?? c.n_head;
  const hidden = c.d_model ?? c.hidden_size ?? c.n_embd;
  const id2label = c.id2label ?? {};
  return {
    heads,
    kvHeads: c.num_key_value_heads ?? heads,
    headDim: c.head_dim ?? c.d_kv ?? (hidden && heads ? hidden / heads : undefined),
    hidden,
    intermediate:
      c.intermediate_size ??
      c.decoder_ffn_dim ??
      c.ffn_dim ??
      c.d_ff ??
      c.n_inner ??
      (hidden ? 4 * hidden : undefined),
    vocabSize: c.vocab_size,
    layers: c.decoder_layers ?? c.num_hidden_layers ?? c.num_layers ?? c.n_layer,
    contextLength: c.max_position_embeddings ?? c.n_positions ?? c.n_ctx,
    eosIds: idList(c.eos_token_id),
    padId: c.pad_token_id,
    decoderStartId: c.decoder_start_token_id,
    labels: Object.keys(id2label)
      .sort((a, b) => Number(a) - Number(b))
      .map((key) => id2label[key] ?? key),
    multiLabel: c.problem_type === "multi_label_classification",
  };
}

export function readGenerationConfig(json: Record<string, unknown> | undefined): GenerationConfig {
  return rawGeneration.parse(json ?? {});
}

export function idList(value: number | number[] | undefined): number[] {
  return value === undefined ? [] : [value].flat();
}
