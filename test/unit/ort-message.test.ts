import assert from "node:assert/strict";
import { test } from "node:test";
import { ortMessage } from "../../src/runtime/session.js";

test("ORT's messages lose the source paths of its build, and keep the rest", () => {
  const raw =
    "failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: /onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 5 by 6";
  assert.equal(
    ortMessage(new Error(raw)),
    "failed to call OrtRun(). ERROR_CODE: 1, ERROR_MESSAGE: void onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 5 by 6",
  );
});
