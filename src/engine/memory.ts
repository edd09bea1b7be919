import { instantiateKernels, type WasmFlavor, type WasmKernels } from "./wasm.ts";

const PAGE_BYTES = 65536;
const MAX_PAGES = 65536; // 4 GiB: the wasm32 address space
const ALIGN = 64; // a cache line; also keeps every tensor SIMD-aligned
// The kernels' own static data lives below this; tensors start above it.
const HEAP_START = 65536;

/**
 * The engine's single WebAssembly memory and a size-bucketed allocator on top of it.
 *
 * Training allocates the same shapes every step, so freed blocks are kept in exact-size buckets
 * and handed out again; fresh blocks come from a bump pointer. Before the memory is grown, the
 * buckets are coalesced so fragmentation never forces a grow that free space could serve.
 */
class EngineMemory {
  // Shared, so worker threads run the kernels on the same bytes (src/engine/threads/): a shared
  // memory grows in place, and every instance sees the new size.
  readonly memory = new WebAssembly.Memory({ initial: 256, maximum: MAX_PAGES, shared: true });
  readonly kernels: WasmKernels;
  readonly flavor: WasmFlavor;
  /** The compiled kernels, for worker threads to instantiate on the same memory. */
  readonly module: WebAssembly.Module;
  private top = HEAP_START;
  private readonly freeBySize = new Map<number, number[]>();
  private buffer: ArrayBufferLike = this.memory.buffer;
  private f32View = new Float32Array(this.buffer);
  private i32View = new Int32Array(this.buffer);
  bytesInUse = 0;
  // Per thread: index 0 is the calling thread's, 1.. the workers'.
  private readonly workspaces: Array<{ ptr: number; bytes: number }> = [];
  private readonly backgroundWorkspaces: Array<{ ptr: number; bytes: number }> = [];

  constructor() {
    const { kernels, flavor, module } = instantiateKernels(this.memory);
    this.kernels = kernels;
    this.flavor = flavor;
    this.module = module;
  }

  /** The whole memory as float32; refreshed after a grow detaches the old buffer. */
  get f32(): Float32Array {
    if (this.buffer !== this.memory.buffer) this.refreshViews();
    return this.f32View;
  }

  /** The whole memory as int32. */
  get i32(): Int32Array {
    if (this.buffer !== this.memory.buffer) this.refreshViews();
    return this.i32View;
  }

  private refreshViews(): void {
    this.buffer = this.memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.i32View = new Int32Array(this.buffer);
  }

  /** Returns a byte offset of `bytes` (rounded up to 64) fresh bytes; contents are undefined. */
  alloc(bytes: number, what: () => string): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const bucket = this.freeBySize.get(size);
    let ptr = bucket?.pop();
    if (ptr === undefined) ptr = this.bump(size, what);
    this.bytesInUse += size;
    return ptr;
  }

  free(ptr: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    this.bytesInUse -= size;
    this.pushFree(ptr, size);
  }

  private pushFree(ptr: number, size: number): void {
    let bucket = this.freeBySize.get(size);
    if (!bucket) {
      bucket = [];
      this.freeBySize.set(size, bucket);
    }
    bucket.push(ptr);
  }

  /**
   * A scratch area owned by the kernels (GEMM packing) of one thread (0, the calling thread, by
   * default); valid until that thread's next call.
   */
  workspace(bytes: number, thread = 0): number {
    return this.area(this.workspaces, thread, bytes);
  }

  /**
   * A scratch area of one thread for the calls it runs in the background (threads/pool.ts), apart
   * from `workspace`'s, which a round of calls may use at the same time.
   */
  backgroundWorkspace(bytes: number, thread: number): number {
    return this.area(this.backgroundWorkspaces, thread, bytes);
  }

  private area(areas: Array<{ ptr: number; bytes: number }>, index: number, bytes: number): number {
    let area = areas[index];
    if (!area) {
      area = { ptr: 0, bytes: 0 };
      areas[index] = area;
    }
    if (bytes > area.bytes) {
      if (area.bytes > 0) this.free(area.ptr, area.bytes);
      area.ptr = this.alloc(bytes, () => `kernel workspace of ${bytes} bytes`);
      area.bytes = bytes;
    }
    return area.ptr;
  }

  private bump(size: number, what: () => string): number {
    if (this.top + size > this.memory.buffer.byteLength) {
      this.coalesce();
      const reused = this.takeBestFit(size);
      if (reused !== undefined) return reused;
      this.grow(this.top + size, size, what);
    }
    const ptr = this.top;
    this.top += size;
    return ptr;
  }

  /** The smallest free block that holds `size`, split so the rest stays free. */
  private takeBestFit(size: number): number | undefined {
    let bestSize = Number.POSITIVE_INFINITY;
    for (const [blockSize, ptrs] of this.freeBySize) {
      if (blockSize >= size && blockSize < bestSize && ptrs.length > 0) bestSize = blockSize;
    }
    if (bestSize === Number.POSITIVE_INFINITY) return undefined;
    const ptr = this.freeBySize.get(bestSize)?.pop() as number;
    if (bestSize > size) this.pushFree(ptr + size, bestSize - size);
    return ptr;
  }

  private grow(endByte: number, size: number, what: () => string): void {
    const needed = Math.ceil((endByte - this.memory.buffer.byteLength) / PAGE_BYTES);
    const current = this.memory.buffer.byteLength / PAGE_BYTES;
    // Grow geometrically so a growing workload does not grow page by page.
    const pages = Math.min(MAX_PAGES - current, Math.max(needed, Math.ceil(current / 2)));
    if (pages < needed) {
      throw new RangeError(
        `gradscope: out of memory allocating ${what()} (${size} bytes); ` + `${(this.bytesInUse / 2 ** 20).toFixed(1)} MiB in use, 4 GiB is the WebAssembly limit`,
      );
    }
    this.memory.grow(pages);
  }

  /** Merges adjacent free blocks; a free run that ends at the bump pointer gives it back. */
  private coalesce(): void {
    const blocks: Array<[number, number]> = [];
    for (const [size, ptrs] of this.freeBySize) for (const ptr of ptrs) blocks.push([ptr, size]);
    blocks.sort((x, y) => x[0] - y[0]);
    this.freeBySize.clear();
    const merged: Array<[number, number]> = [];
    for (const block of blocks) {
      const last = merged[merged.length - 1];
      if (last && last[0] + last[1] === block[0]) last[1] += block[1];
      else merged.push([block[0], block[1]]);
    }
    const tail = merged[merged.length - 1];
    if (tail && tail[0] + tail[1] === this.top) {
      this.top = tail[0];
      merged.pop();
    }
    for (const [ptr, size] of merged) this.pushFree(ptr, size);
  }
}

/** The process-wide engine memory. */
export const engineMemory = new EngineMemory();
