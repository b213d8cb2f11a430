import type { InferenceSession, Tensor } from "onnxruntime-web/wasm";
import type { TensorInfo } from "./manifest.js";

export type Feeds = Record<string, Tensor>;
export type Outputs = Record<string, Tensor>;

export interface RunTiming {
  queueMs: number;
  runMs: number;
}

/**
 * One ORT session, run by one caller at a time: onnxruntime-web does not support concurrent
 * `run()` on a session. Callers queue in arrival order, so concurrent generations interleave
 * step by step instead of one starving the others.
 */
export class ModelSession {
  private tail: Promise<unknown> = Promise.resolve();
  runs = 0;

  constructor(
    readonly file: string,
    private readonly session: InferenceSession,
    readonly inputs: TensorInfo[],
    readonly outputs: TensorInfo[],
  ) {}

  async run(feeds: Feeds, outputNames?: readonly string[]): Promise<Outputs> {
    return (await this.timedRun(feeds, outputNames)).outputs;
  }

  timedRun(feeds: Feeds, outputNames?: readonly string[]): Promise<{ outputs: Outputs; timing: RunTiming }> {
    const queued = performance.now();
    const turn = this.tail.then(async () => {
      const started = performance.now();
      const outputs = outputNames
        ? await this.session.run(feeds, outputNames)
        : await this.session.run(feeds);
      this.runs += 1;
      return { outputs, timing: { queueMs: started - queued, runMs: performance.now() - started } };
    });
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  hasInput(name: string): boolean {
    return this.inputs.some((input) => input.name === name);
  }

  release(): Promise<void> {
    return this.tail.then(() => this.session.release());
  }
}

export function describeValues(values: readonly InferenceSession.ValueMetadata[]): TensorInfo[] {
  return values.map((value) =>
    value.isTensor
      ? { name: value.name, type: value.type, shape: [...value.shape] }
      : { name: value.name, type: "non-tensor", shape: [] },
  );
}
