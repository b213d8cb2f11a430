import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FolderError } from "../../cli/lib/folder-error.js";
import { checkServable } from "../../cli/lib/servable.js";
import type { ManifestFile, Task, TensorInfo } from "../../src/runtime/manifest.js";

const value = (name: string, shape: (number | string)[] = ["batch_size", "sequence_length"]): TensorInfo => ({
  name,
  type: "float32",
  shape,
});

function file(path: string, inputs: TensorInfo[], outputs: TensorInfo[]): ManifestFile {
  return { path, size: 1, sha256: "0".repeat(64), onnx: { inputs, outputs, memory_bytes: 1 } };
}

const decoder = (pastShape: (number | string)[]) =>
  file(
    "onnx/model.onnx",
    [
      value("input_ids"),
      value("past_key_values.0.key", pastShape),
      value("past_key_values.0.value", pastShape),
    ],
    [value("logits"), value("present.0.key"), value("present.0.value")],
  );

function refused(task: Task, files: ManifestFile[], config: Record<string, unknown>, message: RegExp): void {
  assert.throws(
    () => checkServable(task, files, config),
    (error) => error instanceof FolderError && message.test(error.message),
  );
}

describe("push refuses what the engine could load but not serve", () => {
  test("a decoder with a readable cache passes; one whose cache shape nothing gives is refused", () => {
    checkServable("text-generation", [decoder(["batch_size", 2, "past_sequence_length", 32])], {});
    checkServable("text-generation", [decoder(["batch_size", "heads", "past", "dim"])], {
      num_attention_heads: 4,
      hidden_size: 64,
    });
    refused("text-generation", [decoder(["batch_size", "heads", "past", "dim"])], {}, /no fixed head count/);
  });

  test("missing files, inputs and outputs are named", () => {
    refused("text-generation", [file("onnx/encoder_model.onnx", [], [])], {}, /needs onnx\/model\.onnx/);
    refused(
      "text-generation",
      [file("onnx/model.onnx", [value("input_ids")], [value("hidden")])],
      {},
      /no output logits/,
    );
    refused(
      "translation",
      [file("onnx/encoder_model.onnx", [], [value("last_hidden_state")])],
      {},
      /merged decoder/,
    );
    refused(
      "translation",
      [
        file("onnx/encoder_model.onnx", [], [value("last_hidden_state")]),
        file(
          "onnx/decoder_model.onnx",
          [value("input_ids"), value("encoder_hidden_states")],
          [value("logits")],
        ),
      ],
      {},
      /decoder_with_past_model/,
    );
    refused(
      "text-classification",
      [file("onnx/model.onnx", [value("input_ids")], [value("last_hidden_state")])],
      {},
      /no logits output/,
    );
  });

  test("encoders and tensor models", () => {
    checkServable(
      "feature-extraction",
      [file("onnx/model_quantized.onnx", [value("input_ids")], [value("sentence_embedding")])],
      {},
    );
    checkServable("tensor", [file("onnx/model.onnx", [value("features")], [value("y")])], {});
  });
});
