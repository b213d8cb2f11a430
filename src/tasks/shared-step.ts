/**
 * One piece of shared work at a time, for the batchers: the caller that finds none running starts
 * it, in its own request, and it is kept alive past that request (every other caller waits on it,
 * and Workers drop a finished request's continuations); the others wait for the one running.
 */
export class SharedStep {
  private current: Promise<void> | undefined;

  get running(): boolean {
    return this.current !== undefined;
  }

  run(work: () => Promise<void>, keepAlive?: (work: Promise<unknown>) => void): Promise<void> {
    if (!this.current) {
      this.current = work().finally(() => {
        this.current = undefined;
      });
      keepAlive?.(this.current);
    }
    return this.current;
  }
}
