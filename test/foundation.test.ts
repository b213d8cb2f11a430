import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MODELS_DIR } from "../host/paths.js";
import { loadedKey, startWorker, type TestWorker } from "../host/worker.js";

interface Golden {
  input: { name: string; shape: number[]; data: number[][] };
  logits: number[][];
  probabilities: number[][];
}

const ORDER_RISK = join(MODELS_DIR, "order-risk");
const golden = JSON.parse(
  await readFile(join(MODELS_DIR, "recipes", "order-risk", "golden.json"), "utf8"),
) as Golden;

const goodRequest = {
  inputs: [{ name: "features", shape: golden.input.shape, datatype: "FP32", data: golden.input.data.flat() }],
};

interface Stats {
  ort: { wasm_memory_bytes: number };
  cache: { hits: number; misses: number; evictions: number; entries: { key: string }[] };
  store: { reads: Record<string, number> };
}

async function stats(worker: TestWorker): Promise<Stats> {
  return (await (await worker.fetch("/v1/stats")).json()) as Stats;
}

async function errorOf(response: Response) {
  const body = (await response.json()) as {
    error: { message: string; type: string; param: string | null; code: string };
  };
  assert.ok(body.error, "error body has OpenAI's shape");
  assert.equal(typeof body.error.message, "string");
  assert.equal(typeof body.error.type, "string");
  return body.error;
}

function closeTo(actual: number[], expected: number[], tolerance: number) {
  assert.equal(actual.length, expected.length);
  actual.forEach((value, index) => {
    assert.ok(
      Math.abs(value - (expected[index] ?? Number.NaN)) <= tolerance,
      `element ${index}: ${value} vs ${expected[index]}`,
    );
  });
}

describe("tensor API on the built worker in workerd with a local R2", () => {
  let worker: TestWorker;
  before(async () => {
    worker = await startWorker();
    await worker.push(ORDER_RISK, "order-risk");
  });
  after(() => worker.close());

  test("health and model list", async () => {
    assert.deepEqual(await (await worker.fetch("/healthz")).json(), { status: "ok" });
    const list = (await (await worker.fetch("/v1/models")).json()) as {
      object: string;
      data: Record<string, unknown>[];
    };
    assert.equal(list.object, "list");
    const model = list.data.find((m) => m.id === "order-risk");
    assert.ok(model);
    assert.equal(model.object, "model");
    assert.equal(model.task, "tensor");
    assert.equal(model.loaded, false);
  });

  test("model metadata in the Open Inference Protocol shape", async () => {
    const metadata = await (await worker.fetch("/v2/models/order-risk")).json();
    assert.deepEqual(metadata, {
      name: "order-risk",
      versions: ["model"],
      platform: "onnxruntime_onnx",
      inputs: [{ name: "features", datatype: "FP32", shape: [-1, 8] }],
      outputs: [
        { name: "logits", datatype: "FP32", shape: [-1, 2] },
        { name: "probabilities", datatype: "FP32", shape: [-1, 2] },
      ],
    });
  });

  test("8 concurrent cold requests read the model once and match the builder's outputs", async () => {
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => worker.post("/v2/models/order-risk/infer", goodRequest)),
    );
    for (const response of responses) {
      assert.equal(response.status, 200);
      assert.match(response.headers.get("server-timing") ?? "", /load;dur=.*queue;dur=.*run;dur=/);
      const body = (await response.json()) as {
        model_name: string;
        outputs: { name: string; shape: number[]; data: number[] }[];
      };
      assert.equal(body.model_name, "order-risk");
      const logits = body.outputs.find((o) => o.name === "logits");
      const probabilities = body.outputs.find((o) => o.name === "probabilities");
      assert.deepEqual(logits?.shape, [6, 2]);
      closeTo(logits?.data ?? [], golden.logits.flat(), 1e-4);
      closeTo(probabilities?.data ?? [], golden.probabilities.flat(), 1e-5);
    }
    const after = await stats(worker);
    assert.equal(after.store.reads[await loadedKey(worker.bucket, "order-risk")], 1);
    assert.equal(after.store.reads["models/order-risk/manifest.json"], 1);
    assert.equal(after.cache.misses, 1);
    assert.ok(after.ort.wasm_memory_bytes >= 16 * 1024 * 1024);
  });

  test("a later request reuses the session and can select outputs", async () => {
    const response = await worker.post("/v2/models/order-risk/infer", {
      ...goodRequest,
      id: "req-1",
      outputs: [{ name: "probabilities" }],
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { id: string; outputs: { name: string }[] };
    assert.equal(body.id, "req-1");
    assert.deepEqual(
      body.outputs.map((o) => o.name),
      ["probabilities"],
    );
    assert.equal((await stats(worker)).store.reads[await loadedKey(worker.bucket, "order-risk")], 1);
  });

  const badRequests: {
    name: string;
    send: () => Promise<Response>;
    status: number;
    code: string;
    param?: string;
  }[] = [
    {
      name: "not JSON",
      send: () => worker.post("/v2/models/order-risk/infer", "{inputs: nope"),
      status: 400,
      code: "invalid_json",
    },
    {
      name: "invalid UTF-8",
      send: () =>
        worker.fetch("/v2/models/order-risk/infer", {
          method: "POST",
          body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
        }),
      status: 400,
      code: "invalid_utf8",
    },
    {
      name: "wrong shape",
      send: () =>
        worker.post("/v2/models/order-risk/infer", {
          inputs: [{ name: "features", shape: [1, 7], datatype: "FP32", data: [1, 2, 3, 4, 5, 6, 7] }],
        }),
      status: 400,
      code: "wrong_shape",
      param: "inputs[0].shape",
    },
    {
      name: "wrong datatype",
      send: () =>
        worker.post("/v2/models/order-risk/infer", {
          inputs: [{ name: "features", shape: [1, 8], datatype: "INT64", data: [1, 2, 3, 4, 5, 6, 7, 8] }],
        }),
      status: 400,
      code: "wrong_datatype",
      param: "inputs[0].datatype",
    },
    {
      name: "unknown datatype",
      send: () =>
        worker.post("/v2/models/order-risk/infer", {
          inputs: [{ name: "features", shape: [1, 8], datatype: "FLOAT", data: [1, 2, 3, 4, 5, 6, 7, 8] }],
        }),
      status: 400,
      code: "invalid_value",
      param: "inputs[0].datatype",
    },
    {
      name: "unknown input name",
      send: () =>
        worker.post("/v2/models/order-risk/infer", {
          inputs: [{ name: "feature", shape: [1, 8], datatype: "FP32", data: [1, 2, 3, 4, 5, 6, 7, 8] }],
        }),
      status: 400,
      code: "unknown_input",
      param: "inputs[0].name",
    },
    {
      name: "data length not matching the shape",
      send: () =>
        worker.post("/v2/models/order-risk/infer", {
          inputs: [{ name: "features", shape: [2, 8], datatype: "FP32", data: [1, 2, 3, 4, 5, 6, 7, 8] }],
        }),
      status: 400,
      code: "data_length_mismatch",
      param: "inputs[0].data",
    },
    {
      name: "a string where a number belongs",
      send: () =>
        worker.post("/v2/models/order-risk/infer", {
          inputs: [{ name: "features", shape: [1, 8], datatype: "FP32", data: [1, 2, "3", 4, 5, 6, 7, 8] }],
        }),
      status: 400,
      code: "invalid_data",
      param: "inputs[0].data",
    },
    {
      name: "absurd shape",
      send: () =>
        worker.post("/v2/models/order-risk/infer", {
          inputs: [{ name: "features", shape: [100000000, 8], datatype: "FP32", data: [] }],
        }),
      status: 400,
      code: "tensor_too_large",
      param: "inputs[0].shape",
    },
    {
      name: "unknown output",
      send: () =>
        worker.post("/v2/models/order-risk/infer", { ...goodRequest, outputs: [{ name: "score" }] }),
      status: 400,
      code: "unknown_output",
      param: "outputs[0].name",
    },
    {
      name: "unknown model",
      send: () => worker.post("/v2/models/no-such-model/infer", goodRequest),
      status: 404,
      code: "model_not_found",
    },
    {
      name: "path-like model id",
      send: () => worker.post("/v2/models/..%2F..%2Fsecrets/infer", goodRequest),
      status: 400,
      code: "invalid_model_id",
    },
    {
      name: "unknown version",
      send: () => worker.post("/v2/models/order-risk/versions/v9/infer", goodRequest),
      status: 404,
      code: "version_not_found",
    },
  ];

  for (const bad of badRequests) {
    test(`bad input: ${bad.name} -> ${bad.status} ${bad.code}, then a good request works`, async () => {
      const response = await bad.send();
      assert.equal(response.status, bad.status);
      assert.match(response.headers.get("content-type") ?? "", /application\/json/);
      const error = await errorOf(response);
      assert.equal(error.code, bad.code, error.message);
      if (bad.param) assert.equal(error.param, bad.param);
      const good = await worker.post("/v2/models/order-risk/infer", goodRequest);
      assert.equal(good.status, 200);
    });
  }

  test("unknown routes answer JSON 404", async () => {
    const response = await worker.fetch("/nope");
    assert.equal(response.status, 404);
    assert.equal((await errorOf(response)).code, "unknown_route");
  });

  test("a GET with a chunked body is a 400, and the isolate serves the next request", async () => {
    // fetch() refuses to send a body with GET, so the request is written by hand.
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(new URL("/v1/models", worker.url), { method: "GET" }, (response) => {
        let text = "";
        response.on("data", (chunk) => {
          text += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      });
      request.on("error", reject);
      request.setHeader("transfer-encoding", "chunked");
      request.end("{}");
    });
    assert.equal(status, 400);
    assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, "unexpected_body");
    assert.equal((await worker.fetch("/v1/models")).status, 200);
  });
});

describe("request size limit", () => {
  test("a body over MAX_BODY_BYTES is a 413 JSON error, and the isolate serves the next request", async () => {
    const worker = await startWorker({ maxBodyBytes: 64 * 1024 });
    try {
      await worker.push(ORDER_RISK, "order-risk");
      const response = await worker.post("/v2/models/order-risk/infer", {
        inputs: [{ name: "features", shape: [1, 8], datatype: "FP32", data: new Array(30_000).fill(0.5) }],
      });
      assert.equal(response.status, 413);
      assert.equal((await errorOf(response)).code, "body_too_large");
      assert.equal((await worker.post("/v2/models/order-risk/infer", goodRequest)).status, 200);
    } finally {
      await worker.close();
    }
  });
});

describe("integrity: a corrupted file in the store", () => {
  let worker: TestWorker;
  before(async () => {
    worker = await startWorker();
    await worker.push(ORDER_RISK, "order-risk");
  });
  after(() => worker.close());

  test("is a clear error naming the file, is not cached, and a re-push fixes it", async () => {
    // The worker loads the ORT-format copy of the .onnx.
    const key = await loadedKey(worker.bucket, "order-risk");
    const original = await worker.bucket.get(key);
    assert.ok(original);
    const corrupted = new Uint8Array(original);
    corrupted[100] = (corrupted[100] ?? 0) ^ 0xff;
    await worker.bucket.put(key, corrupted);

    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await worker.post("/v2/models/order-risk/infer", goodRequest);
      assert.equal(response.status, 502);
      const error = await errorOf(response);
      assert.equal(error.code, "checksum_mismatch");
      assert.match(error.message, /'onnx\/model\.ort'/);
    }
    assert.equal((await stats(worker)).store.reads[key], 2, "a failed load is not cached");

    await worker.push(ORDER_RISK, "order-risk", { force: true });
    const fixed = await worker.post("/v2/models/order-risk/infer", goodRequest);
    assert.equal(fixed.status, 200);
  });
});

describe("memory budget", () => {
  test("a model larger than the budget is refused before it is read", async () => {
    const worker = await startWorker({ budgetMb: 0.005 });
    try {
      await worker.push(ORDER_RISK, "order-risk");
      const response = await worker.post("/v2/models/order-risk/infer", goodRequest);
      assert.equal(response.status, 400);
      const error = await errorOf(response);
      assert.equal(error.code, "model_too_large");
      assert.match(error.message, /budget/);
      assert.equal(
        (await stats(worker)).store.reads[await loadedKey(worker.bucket, "order-risk")],
        undefined,
      );
    } finally {
      await worker.close();
    }
  });

  test("loading past the budget evicts the least recently used model", async () => {
    // order-risk's measured cost is its 11.9 KB ORT-format file; 20 KB holds one copy, not two.
    const worker = await startWorker({ budgetMb: 20 / 1024 });
    try {
      await worker.push(ORDER_RISK, "risk-a");
      await worker.push(ORDER_RISK, "risk-b");
      const infer = (id: string) => worker.post(`/v2/models/${id}/infer`, goodRequest).then((r) => r.status);
      assert.equal(await infer("risk-a"), 200);
      assert.equal(await infer("risk-b"), 200);
      let current = await stats(worker);
      assert.equal(current.cache.evictions, 1);
      assert.deepEqual(
        current.cache.entries.map((e) => e.key.split("/")[0]),
        ["risk-b"],
      );
      assert.equal(await infer("risk-a"), 200);
      current = await stats(worker);
      assert.equal(
        current.store.reads[await loadedKey(worker.bucket, "risk-a")],
        2,
        "the evicted model was read again",
      );
      assert.equal(current.cache.evictions, 2);
    } finally {
      await worker.close();
    }
  });
});
