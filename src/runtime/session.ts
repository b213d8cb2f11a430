import type { InferenceSession, Tensor } from "onnxruntime-web/wasm";
import { ApiError } from "../errors.js";
import type { CreatedSession } from "./load-session.js";
import type { TensorInfo } from "./manifest.js";
import type { Ort, OrtRuntime } from "./ort.js";

export type Feeds = Record<string, Tensor>;
export type Outputs = Record<string, Tensor>;

export interface RunTiming {
  queueMs: number;
  runMs: number;
}

/**
 * One ORT session, run by one caller at a time: onnxruntime-web does not support concurrent
 * `run()` on a session. Callers queue in arrival order, so concurrent generations interleave
 * step by step instead of one starving the others. It carries the ORT module its tensors are
 * built with, so tasks need nothing else to feed it.
 */
export class ModelSession {
  private tail: Promise<unknown> = Promise.resolve();
  runs = 0;
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  private readonly session: InferenceSession;

  constructor(
    private readonly runtime: OrtRuntime,
    /** `<model id>/<file path>`, for errors and statistics. */
    readonly name: string,
    /** Owned: released (with any heap block its weights live in) by `release()`. */
    private readonly created: CreatedSession,
  ) {
    this.session = created.session;
    this.inputs = describeValues(created.session.inputMetadata);
    this.outputs = describeValues(created.session.outputMetadata);
  }

  get ort(): Ort {
    return this.runtime.ort;
  }

  /**
   * Lets other requests in between the steps of a long job. Called by the job itself, between
   * its runs, never inside the shared queue: a timer belongs to the request that set it, and one
   * whose request was cancelled never fires.
   */
  yieldTurn(): Promise<void> {
    return this.runtime.yieldTurn();
  }

  async run(feeds: Feeds, outputNames?: readonly string[]): Promise<Outputs> {
    return (await this.timedRun(feeds, outputNames)).outputs;
  }

  timedRun(feeds: Feeds, outputNames?: readonly string[]): Promise<{ outputs: Outputs; timing: RunTiming }> {
    const queued = performance.now();
    const turn = this.tail.then(async () => {
      const started = performance.now();
      let outputs: Outputs;
      try {
        outputs = outputNames ? await this.session.run(feeds, outputNames) : await this.session.run(feeds);
      } catch (error) {
        throw new ModelRunError(this.name, error);
      }
      this.runs += 1;
      return { outputs, timing: { queueMs: started - queued, runMs: performance.now() - started } };
    });
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  hasInput(name: string): boolean {
    return this.inputs.some((input) => input.name === name);
  }

  hasOutput(name: string): boolean {
    return this.outputs.some((output) => output.name === name);
  }

  input(name: string): TensorInfo | undefined {
    return this.inputs.find((input) => input.name === name);
  }

  release(): Promise<void> {
    return this.tail.then(() => this.created.release());
  }
}

/**
 * onnxruntime failed on inputs that passed validation: the model's fault or the engine's, never
 * the client's, so a 5xx that names the model and the node ORT names, with build paths removed.
 */
export class ModelRunError extends ApiError {
  constructor(
    readonly model: string,
    override readonly cause: unknown,
  ) {
    super(500, `The model '${model}' failed to run: ${ortMessage(cause)}`, "model_error", "model");
  }
}

/** ORT's message without the source paths of its build (`/onnxruntime_src/...cc:123`). */
export function ortMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/(?:\/[\w.+-]+)+\.(?:cc|cpp|h|hpp|c):\d+\s*/g, "").trim();
}

export function describeValues(values: readonly InferenceSession.ValueMetadata[]): TensorInfo[] {
  return values.map((value) =>
    value.isTensor
      ? { name: value.name, type: value.type, shape: [...value.shape] }
      : { name: value.name, type: "non-tensor", shape: [] },
  );
}
