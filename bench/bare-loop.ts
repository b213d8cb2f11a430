import type { Tensor } from "onnxruntime-web/wasm";
import type { Feeds } from "../src/runtime/session.js";
import type { CausalLM } from "../src/tasks/causal-lm.js";
import { argmax } from "../src/tasks/sampling.js";
import { emptyCache, lastLogits } from "../src/tasks/tensors.js";

/**
 * The floor a decoder's generation is measured against: feeds built by hand, the last position's
 * argmax, nothing else. `pause`, when given, runs between steps (the worker yields to pending I/O
 * there), so its cost can be told apart from the runs'. Imports nothing host-specific: the same
 * loop runs in Node and in workerd (bench/workerd-loop.ts).
 */
export async function bareLoop(
  lm: CausalLM,
  prompt: number[],
  newTokens: number,
  pause?: () => Promise<void>,
) {
  const { session, layout } = lm;
  const { ort } = session;
  let past: Feeds = {};
  for (const layer of layout.past) {
    for (const name of [layer.key, layer.value]) {
      past[name] = emptyCache(ort, layout.kvType, 1, layout.kvHeads, layout.headDim);
    }
  }
  let tokens = prompt;
  let length = 0;
  let first = 0;
  const started = performance.now();
  for (let step = 0; step < newTokens; step++) {
    if (step > 0 && pause) await pause();
    const total = length + tokens.length;
    const feeds: Feeds = {
      ...past,
      input_ids: new ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [1, tokens.length]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(total).fill(1n), [1, total]),
      position_ids: new ort.Tensor(
        "int64",
        BigInt64Array.from(tokens, (_, i) => BigInt(length + i)),
        [1, tokens.length],
      ),
    };
    const outputs = await session.run(feeds);
    const best = argmax(lastLogits(outputs.logits as Tensor)[0] ?? []);
    past = {};
    for (const layer of layout.past) {
      past[layer.key] = outputs[layer.presentKey] as Tensor;
      past[layer.value] = outputs[layer.presentValue] as Tensor;
    }
    length = total;
    tokens = [best];
    if (step === 0) first = performance.now() - started;
  }
  return { first, total: performance.now() - started, last: tokens[0] ?? 0 };
}
