import type { ModelSession } from "../runtime/session.js";
import { SharedStep } from "./shared-step.js";

/**
 * Micro-batching for one-run work (an encoder's forward pass): jobs from concurrent requests that
 * are waiting at the same moment run as one batch, and each request gets its own part of the
 * outputs. A job waits one turn of the event loop before its batch starts, so that requests that
 * arrived together join it; jobs that arrive while a batch runs go into the next one.
 *
 * The same rules as the decode batcher (tasks/batcher.ts), for the same reasons: the request that
 * asks first runs the batch in its own request, every other waits for that run; the run is kept
 * alive past the request that started it (a cancelled request's continuations are dropped in
 * Workers); and no timer is ever set inside the shared run (a timer belongs to the request that
 * set it and never fires once that request is cancelled), only in each request's own wait.
 */
export interface MicroBatchStats {
  runs: number;
  jobs: number;
  rows: number;
  queued: number;
  /** Requests' jobs per run: above 1 when concurrent requests shared a run. */
  mean_jobs_per_run: number;
  max_jobs_per_run: number;
  mean_rows_per_run: number;
}

export interface MicroBatchOptions<J> {
  /** Runs the jobs as one batch; it stores each job's results in the job. */
  run: (jobs: J[]) => Promise<void>;
  /** Whether these jobs fit one run (rows and the per-run memory allowance). */
  fits: (jobs: J[]) => boolean;
  rows: (job: J) => number;
  yieldTurn: () => Promise<void>;
}

interface Entry<J> {
  job: J;
  settled: boolean;
  failure?: unknown;
}

export class MicroBatcher<J> {
  private readonly pending: Entry<J>[] = [];
  private readonly shared = new SharedStep();
  private runs = 0;
  private jobs = 0;
  private rows = 0;
  private maxJobs = 0;

  constructor(private readonly options: MicroBatchOptions<J>) {}

  /** Runs the job in the next batch it fits; resolves once its results are stored in it. */
  async submit(job: J, keepAlive?: (work: Promise<unknown>) => void): Promise<void> {
    const entry: Entry<J> = { job, settled: false };
    this.pending.push(entry);
    await this.options.yieldTurn();
    while (!entry.settled) await this.advance(keepAlive);
    if ("failure" in entry) throw entry.failure;
  }

  stats(): MicroBatchStats {
    return {
      runs: this.runs,
      jobs: this.jobs,
      rows: this.rows,
      queued: this.pending.length,
      mean_jobs_per_run: this.runs === 0 ? 0 : this.jobs / this.runs,
      max_jobs_per_run: this.maxJobs,
      mean_rows_per_run: this.runs === 0 ? 0 : this.rows / this.runs,
    };
  }

  private advance(keepAlive?: (work: Promise<unknown>) => void): Promise<void> {
    return this.shared.run(() => this.runNext(), keepAlive);
  }

  /** The waiting jobs that fit one run together, in arrival order (the first always runs). */
  private async runNext(): Promise<void> {
    const taken: Entry<J>[] = [];
    const fits = (next: Entry<J>) => this.options.fits([...taken, next].map((entry) => entry.job));
    while (this.pending.length > 0 && (taken.length === 0 || fits(this.pending[0] as Entry<J>))) {
      taken.push(this.pending.shift() as Entry<J>);
    }
    if (taken.length === 0) return;
    try {
      await this.options.run(taken.map((entry) => entry.job));
    } catch (error) {
      for (const entry of taken) entry.failure = error;
    }
    for (const entry of taken) entry.settled = true;
    this.runs += 1;
    this.jobs += taken.length;
    this.rows += taken.reduce((sum, entry) => sum + this.options.rows(entry.job), 0);
    this.maxJobs = Math.max(this.maxJobs, taken.length);
  }
}

const batchers = new WeakMap<ModelSession, MicroBatcher<unknown>>();

/**
 * The micro-batcher of a session, made on first use; it lives as long as the session is cached.
 * One task owns each session, so the job type a session's batcher was made with is the caller's.
 */
export function microBatcherFor<J>(session: ModelSession, make: () => MicroBatcher<J>): MicroBatcher<J> {
  let batcher = batchers.get(session) as MicroBatcher<J> | undefined;
  if (!batcher) {
    batcher = make();
    batchers.set(session, batcher as unknown as MicroBatcher<unknown>);
  }
  return batcher;
}

export function microBatchStatsOf(session: ModelSession): MicroBatchStats | undefined {
  return batchers.get(session)?.stats();
}
