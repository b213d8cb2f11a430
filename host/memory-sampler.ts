/**
 * Calls `sample` now, every millisecond the event loop is free, and right after every growth of a
 * WebAssembly memory (ORT's memory grows inside synchronous wasm calls, when no timer can run), until
 * the returned function is called, which samples once more. For peak-memory measurements.
 */
export function sampleWhileGrowing(sample: () => void): () => void {
  const grow = WebAssembly.Memory.prototype.grow;
  WebAssembly.Memory.prototype.grow = function (this: WebAssembly.Memory, delta: number) {
    const pages = grow.call(this, delta);
    sample();
    return pages;
  };
  const timer = setInterval(sample, 1);
  sample();
  return () => {
    clearInterval(timer);
    WebAssembly.Memory.prototype.grow = grow;
    sample();
  };
}
