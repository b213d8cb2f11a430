/** Small statistics helpers for the benchmarks. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(value < 10 ? 2 : 1) : "n/a";
}

export function ratio(value: number, base: number): string {
  return Number.isFinite(value) && base > 0 ? `${(value / base).toFixed(2)}x` : "n/a";
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)}`;
}

export async function timeIt<T>(work: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const result = await work();
  return [performance.now() - started, result];
}

/**
 * Times every runner on the same rounds `first..first + rounds - 1`, interleaved (each runner's
 * round, then the next round), after an untimed pass of all of them: the first calls of a session
 * are slower (wasm memory growth, JIT), and runners timed one after another picked up that drift
 * as a difference between them. Returns each runner's times in ms.
 */
export async function timeInterleaved<K extends string>(
  rounds: number,
  runners: Record<K, (round: number) => Promise<unknown>>,
  first = 1,
): Promise<Record<K, number[]>> {
  const entries = Object.entries(runners) as [K, (round: number) => Promise<unknown>][];
  const times = Object.fromEntries(entries.map(([name]) => [name, [] as number[]])) as Record<K, number[]>;
  for (let round = first; round < first + rounds; round++) for (const [, run] of entries) await run(round);
  for (let round = first; round < first + rounds; round++) {
    for (const [name, run] of entries) times[name].push((await timeIt(() => run(round)))[0]);
  }
  return times;
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
