import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { nodeImageCodecs } from "../host/image-codecs.js";
import { DEFAULT_MAX_PIXELS, decodeImage } from "../src/image/decode.js";
import { readImageProcessor } from "../src/image/preprocess.js";
import { resize } from "../src/image/resize.js";
import { loadTransformers, wasmOptions } from "./lib/transformers.js";

/**
 * `npm run models:interop`: loads the bundled folders unchanged in @huggingface/transformers v4
 * (Node, offline, onnxruntime-web WASM) and compares its outputs with the recipes' goldens. It
 * proves the folders are in the layout the ecosystem reads, tokenizer included.
 */
const MODELS = join(import.meta.dirname, "..", "models");
const { values } = parseArgs({ options: { models: { type: "string" } } });
const only = values.models?.split(",");
const transformers = await loadTransformers(MODELS);
const golden = async (id: string) =>
  JSON.parse(await readFile(join(MODELS, "recipes", id, "golden.json"), "utf8")) as Record<string, unknown>;

let passed = 0;
let failed = 0;
function check(name: string, ok: boolean, detail = "") {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] ?? 0) * (b[i] ?? 0);
    na += (a[i] ?? 0) ** 2;
    nb += (b[i] ?? 0) ** 2;
  }
  return na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb);
}

type Dtype = "fp32" | "int8";
const tjsDtype = (dtype: Dtype) => (dtype === "int8" ? "q8" : "fp32");

async function embeddings(id: string, output: "sentence_embedding" | "embedding") {
  const g = (await golden(id)) as {
    inputs: { text: string; input_ids: number[] }[];
    fp32: Record<string, number[][]>;
    int8: Record<string, number[][]>;
  };
  for (const dtype of ["fp32", "int8"] as Dtype[]) {
    const extractor = await transformers.pipeline(
      "feature-extraction",
      id,
      wasmOptions(tjsDtype(dtype)) as never,
    );
    let worst = 1;
    let idsEqual = true;
    for (const [index, input] of g.inputs.entries()) {
      const encoded = extractor.tokenizer(input.text) as { input_ids: { data: BigInt64Array } };
      idsEqual &&= Array.from(encoded.input_ids.data, Number).join() === input.input_ids.join();
      const expected = g[dtype][output]?.[index] ?? [];
      // An input with no known word embeds to zeros, which transformers.js normalises to NaN.
      if (expected.every((value) => value === 0)) continue;
      const result = await extractor(input.text, { pooling: "mean", normalize: true });
      worst = Math.min(worst, cosine(result.data as Float32Array, expected));
    }
    check(`${id} ${dtype}: transformers.js tokenizer ids equal the golden ids`, idsEqual);
    check(
      `${id} ${dtype}: feature-extraction embeddings match (min cosine >= 0.999)`,
      worst >= 0.999,
      worst.toFixed(6),
    );
    await extractor.dispose();
  }
}

interface GenerationGolden {
  cases: { input_ids: number[]; fp32: { greedy_ids: number[] }; int8: { greedy_ids: number[] } }[];
}

/**
 * Greedy generate() for every golden case in both dtypes. A causal LM returns the prompt too, so
 * its output is cut to the new tokens; a seq2seq model returns the decoder ids as the golden has them.
 */
async function generation(id: string, kind: "causal" | "seq2seq") {
  const g = (await golden(id)) as unknown as GenerationGolden;
  const Model = kind === "causal" ? transformers.AutoModelForCausalLM : transformers.AutoModelForSeq2SeqLM;
  for (const dtype of ["fp32", "int8"] as Dtype[]) {
    const model = await Model.from_pretrained(id, wasmOptions(tjsDtype(dtype)) as never);
    let equal = 0;
    for (const c of g.cases) {
      const expected = c[dtype].greedy_ids;
      const shape = [1, c.input_ids.length];
      const output = (await model.generate({
        input_ids: new transformers.Tensor("int64", BigInt64Array.from(c.input_ids, BigInt), shape),
        attention_mask: new transformers.Tensor(
          "int64",
          new BigInt64Array(c.input_ids.length).fill(1n),
          shape,
        ),
        do_sample: false,
        num_beams: 1,
        ...(kind === "causal" ? { max_new_tokens: expected.length } : {}),
      } as never)) as { data: BigInt64Array };
      const ids = Array.from(output.data, Number);
      const produced =
        kind === "causal" ? ids.slice(c.input_ids.length, c.input_ids.length + expected.length) : ids;
      if (produced.join() === expected.join()) equal++;
    }
    check(
      `${id} ${dtype}: greedy ${kind === "causal" ? "generation" : "translation"} equals the golden ids`,
      equal === g.cases.length,
      `${equal}/${g.cases.length}`,
    );
    await model.dispose();
  }
}

interface CaptionGolden {
  images: string[];
  fp32: { greedy: { prompt: string; ids: number[] }[] };
  int8: { greedy: { prompt: string; ids: number[] }[] };
}

/**
 * The image-to-text pipeline on the golden images (no prompt: the pipeline takes none). Its own resize
 * (sharp) is not Pillow's, so it is handed the images already resized as Pillow does (src/image) and
 * only rescales and normalises them, as preprocessor_config.json says: the same pixels as the goldens.
 */
async function captioning(id: string) {
  const g = (await golden(id)) as unknown as CaptionGolden;
  const processor = readImageProcessor(
    JSON.parse(await readFile(join(MODELS, id, "preprocessor_config.json"), "utf8")),
    id,
  );
  for (const dtype of ["fp32", "int8"] as Dtype[]) {
    const captioner = await transformers.pipeline("image-to-text", id, wasmOptions(tjsDtype(dtype)) as never);
    const expected = g[dtype].greedy.filter((row) => row.prompt === "");
    let equal = 0;
    for (const [index, name] of g.images.entries()) {
      const decoded = await decodeImage(
        await readFile(join(MODELS, "recipes", id, "fixtures", name)),
        nodeImageCodecs,
        { maxPixels: DEFAULT_MAX_PIXELS, param: name },
      );
      const sized = resize(decoded, processor.width, processor.height, processor.resample);
      const image = new transformers.RawImage(sized.data, sized.width, sized.height, 3);
      const [result] = (await captioner(image, { max_new_tokens: 40 } as never)) as {
        generated_text: string;
      }[];
      const want = captioner.tokenizer
        .decode(expected[index]?.ids ?? [], { skip_special_tokens: true })
        .trim();
      if (result?.generated_text.trim() === want) equal++;
      else console.log(`  ${name}: '${result?.generated_text}' vs golden '${want}'`);
    }
    check(
      `${id} ${dtype}: image-to-text pipeline captions equal the golden greedy captions`,
      equal === g.images.length,
      `${equal}/${g.images.length}`,
    );
    await captioner.dispose();
  }
}

const suites: Record<string, () => Promise<void>> = {
  captioner: () => captioning("captioner"),
  "glove-static": () => embeddings("glove-static", "sentence_embedding"),
  "intent-bert": () => embeddings("intent-bert", "embedding"),
  "phrase-translator": () => generation("phrase-translator", "seq2seq"),
  "shop-assistant": () => generation("shop-assistant", "causal"),
};
for (const [id, run] of Object.entries(suites)) {
  if (only && !only.includes(id)) continue;
  try {
    await run();
  } catch (error) {
    check(`${id}: loads in transformers.js`, false, (error as Error).message);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
