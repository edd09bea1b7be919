/** Runs one action at most every `ms`, the last request winning. */
export function throttle(ms: number, action: () => void): () => void {
  let timer: number | null = null;
  let last = 0;
  return () => {
    if (timer !== null) return;
    const wait = Math.max(0, last + ms - performance.now());
    timer = window.setTimeout(() => {
      timer = null;
      last = performance.now();
      action();
    }, wait);
  };
}
