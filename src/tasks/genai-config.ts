import { z } from "zod";

/**
 * onnxruntime-genai folders carry `genai_config.json` instead of config.json and
 * generation_config.json. These read it as the two Hugging Face files it stands for, so the rest
 * of the engine (and the push checks) reads one shape. Fields of the wrong type count as absent,
 * as in model-config.ts.
 */
const number = z.number().finite().optional().catch(undefined);
const ids = z
  .union([z.number().int(), z.array(z.number().int())])
  .optional()
  .catch(undefined);
const names = z.record(z.string(), z.string()).optional().catch(undefined);

const genaiSchema = z.looseObject({
  model: z
    .looseObject({
      type: z.string().optional().catch(undefined),
      bos_token_id: ids,
      eos_token_id: ids,
      pad_token_id: ids,
      vocab_size: number,
      context_length: number,
      decoder: z
        .looseObject({
          filename: z.string().optional().catch(undefined),
          head_size: number,
          hidden_size: number,
          num_attention_heads: number,
          num_key_value_heads: number,
          num_hidden_layers: number,
          inputs: names,
          outputs: names,
        })
        .optional()
        .catch(undefined),
    })
    .optional()
    .catch(undefined),
  search: z.record(z.string(), z.unknown()).optional().catch(undefined),
});

export type GenaiConfig = z.infer<typeof genaiSchema>;

export function readGenaiConfig(json: Record<string, unknown>): GenaiConfig {
  return genaiSchema.parse(json);
}

/** config.json as Hugging Face would write it for the same decoder. */
export function genaiModelConfig(genai: GenaiConfig): Record<string, unknown> {
  const model = genai.model;
  const decoder = model?.decoder;
  // genai writes one pad id, or a list whose first entry is the one it pads with.
  const pad = [model?.pad_token_id ?? []].flat()[0];
  return {
    model_type: model?.type,
    num_attention_heads: decoder?.num_attention_heads,
    num_key_value_heads: decoder?.num_key_value_heads,
    head_dim: decoder?.head_size,
    hidden_size: decoder?.hidden_size,
    num_hidden_layers: decoder?.num_hidden_layers,
    vocab_size: model?.vocab_size,
    max_position_embeddings: model?.context_length,
    bos_token_id: model?.bos_token_id,
    eos_token_id: model?.eos_token_id,
    pad_token_id: pad,
  };
}

/**
 * generation_config.json from genai's search options, which use Hugging Face's names. genai's
 * `max_length` is its whole context (prompt included), as in Hugging Face, so it passes as is;
 * genai's own switches (`past_present_share_buffer`, ...) are not generation settings.
 */
const SEARCH_FIELDS = [
  "do_sample",
  "temperature",
  "top_k",
  "top_p",
  "repetition_penalty",
  "num_beams",
  "length_penalty",
  "early_stopping",
  "no_repeat_ngram_size",
  "max_length",
];

export function genaiGenerationConfig(genai: GenaiConfig): Record<string, unknown> {
  const search = genai.search ?? {};
  return {
    ...Object.fromEntries(SEARCH_FIELDS.filter((key) => key in search).map((key) => [key, search[key]])),
    eos_token_id: genai.model?.eos_token_id,
    bos_token_id: genai.model?.bos_token_id,
  };
}
