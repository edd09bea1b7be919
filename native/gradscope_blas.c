// gradscope's native backend: single-precision BLAS products run in place on the engine's shared
// WebAssembly memory (src/engine/native.ts loads this addon; src/engine/kernels/gemm.ts calls
// it). JavaScript hands over a view of the memory once (and again after the memory grows); each
// call then passes byte offsets into it, checked against the memory's length here, so a bad
// offset is a RangeError and never a write outside the memory.
//
// Threads: OpenBLAS splits a product differently at different thread counts, and its results
// then differ in the last bits (measured: A·Bᵀ at 128x1000x784, 101685 of 128000 elements between
// 1 and 2 threads). So OpenBLAS runs single-threaded, and this file splits each product into
// output panels by a grid that depends on the product's shape only; a pool of threads takes the
// panels. Each panel is the same single-threaded call whichever thread runs it, so the result is
// the same bits at any thread count, as the WASM kernels' are.
#include <cblas.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

// OpenBLAS's own entry points (declared by its cblas.h; repeated so the intent is visible).
extern void openblas_set_num_threads(int num_threads);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

// The engine memory of one JavaScript thread (each worker thread that loads gradscope has its
// own engine and its own memory): N-API instance data, one per environment.
typedef struct {
  uint8_t *base;
  size_t bytes;
} memory_t;

static void free_memory_record(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static memory_t *memory_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return (memory_t *)data;
}

// One single-threaded sgemm on absolute pointers.
typedef struct {
  int trans_a, trans_b, m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const float *a, *b;
  float *c;
} panel_t;

static void run_panel(const panel_t *p) {
  cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans, p->trans_b ? CblasTrans : CblasNoTrans, p->m, p->n, p->k, p->alpha, p->a, p->lda, p->b,
              p->ldb, p->beta, p->c, p->ldc);
}

// The panel pool: persistent workers sleep on `wake`; a job is an array of panels that the
// calling thread and the workers claim one by one through `job_next`.
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_finished = PTHREAD_COND_INITIALIZER;
static unsigned long pool_generation = 0;
static int pool_workers = 0;
static int threads_wanted = 1;
static const panel_t *_Atomic job_panels = NULL;
static atomic_int job_count = 0;
static atomic_int job_next = 0;
static atomic_int job_done = 0;

static void drain(void) {
  for (;;) {
    int count = atomic_load(&job_count);
    int index = atomic_fetch_add(&job_next, 1);
    if (index >= count) return;
    run_panel(&atomic_load(&job_panels)[index]);
    if (atomic_fetch_add(&job_done, 1) + 1 == count) {
      pthread_mutex_lock(&pool_lock);
      pthread_cond_signal(&pool_finished);
      pthread_mutex_unlock(&pool_lock);
    }
  }
}

static void *pool_worker(void *unused) {
  (void)unused;
  unsigned long seen = 0;
  for (;;) {
    pthread_mutex_lock(&pool_lock);
    while (pool_generation == seen) pthread_cond_wait(&pool_wake, &pool_lock);
    seen = pool_generation;
    pthread_mutex_unlock(&pool_lock);
    drain();
  }
  return NULL;
}

// Runs the panels, on up to threads_wanted threads; they write disjoint parts of C.
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;

static void run_panels_serialized(const panel_t *panels, int count);

// Several JavaScript threads may each run products: one job at a time uses the pool.
static void run_panels(const panel_t *panels, int count) {
  pthread_mutex_lock(&job_lock);
  run_panels_serialized(panels, count);
  pthread_mutex_unlock(&job_lock);
}

static void run_panels_serialized(const panel_t *panels, int count) {
  int helpers = (threads_wanted < count ? threads_wanted : count) - 1;
  if (helpers <= 0) {
    for (int i = 0; i < count; i++) run_panel(&panels[i]);
    return;
  }
  pthread_mutex_lock(&pool_lock);
  while (pool_workers < helpers) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, pool_worker, NULL) != 0) break;
    pthread_detach(thread);
    pool_workers++;
  }
  atomic_store(&job_panels, panels);
  atomic_store(&job_count, count);
  atomic_store(&job_done, 0);
  atomic_store(&job_next, 0);
  pool_generation++;
  pthread_cond_broadcast(&pool_wake);
  pthread_mutex_unlock(&pool_lock);
  drain();
  pthread_mutex_lock(&pool_lock);
  while (atomic_load(&job_done) < count) pthread_cond_wait(&pool_finished, &pool_lock);
  pthread_mutex_unlock(&pool_lock);
}

// The panel grid: one panel per MIN_PANEL_WORK multiply-adds, at most MAX_PANELS, along C's
// longer side in whole multiples of PANEL_UNIT (BLAS's register tiles are 16 wide or narrower)
// and at least MIN_PANEL_WIDTH wide. It depends on the shape only, never on the thread count.
// Each panel repacks the operand it shares with the others, which costs a little: GEMM 1024³ on
// one thread, best of 15 on a shared AVX-512 machine, 142-150 GFLOP/s whole, 130-147 in 2 or 4
// panels, 130-138 in 8 (medians vary more than that with the load). Four panels keep four
// threads busy; a panel of 2^21 multiply-adds takes about 0.1 ms on one
// AVX-512 core, well above a condition variable's wake-up.
#define MIN_PANEL_WORK (1 << 21)
#define MAX_PANELS 4
#define PANEL_UNIT 16
#define MIN_PANEL_WIDTH 128

// Splits `whole` into panels over rows (by_rows) or columns of C; returns how many.
static int split_panels(const panel_t *whole, panel_t *panels) {
  double work = (double)whole->m * whole->n * whole->k;
  int count = work / MIN_PANEL_WORK > MAX_PANELS ? MAX_PANELS : (int)(work / MIN_PANEL_WORK);
  int by_rows = whole->m > whole->n;
  int extent = by_rows ? whole->m : whole->n;
  int units = (extent + PANEL_UNIT - 1) / PANEL_UNIT;
  if (count > extent / MIN_PANEL_WIDTH) count = extent / MIN_PANEL_WIDTH;
  if (count <= 1) {
    panels[0] = *whole;
    return 1;
  }
  int made = 0;
  for (int part = 0; part < count; part++) {
    int start = (int)((long)part * units / count) * PANEL_UNIT;
    int end = (int)((long)(part + 1) * units / count) * PANEL_UNIT;
    if (end > extent) end = extent;
    if (end <= start) continue;
    panel_t p = *whole;
    if (by_rows) {
      p.m = end - start;
      p.a = whole->a + (whole->trans_a ? (size_t)start : (size_t)start * whole->lda);
      p.c = whole->c + (size_t)start * whole->ldc;
    } else {
      p.n = end - start;
      p.b = whole->b + (whole->trans_b ? (size_t)start * whole->ldb : (size_t)start);
      p.c = whole->c + start;
    }
    panels[made++] = p;
  }
  return made;
}

#define CHECK(call)                                                                      \
  do {                                                                                   \
    if ((call) != napi_ok) {                                                             \
      napi_throw_error(env, NULL, "gradscope native: N-API call failed: " #call);        \
      return NULL;                                                                       \
    }                                                                                    \
  } while (0)

static napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static int read_numbers(napi_env env, napi_callback_info info, size_t expected, double *out) {
  napi_value argv[16];
  size_t argc = 16;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != expected) return 0;
  for (size_t i = 0; i < expected; i++) {
    if (napi_get_value_double(env, argv[i], &out[i]) != napi_ok) return 0;
  }
  return 1;
}

// attach(view: Uint8Array over the memory's SharedArrayBuffer): remembers where the memory is.
static napi_value attach(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_typed = false;
  if (argc == 1) CHECK(napi_is_typedarray(env, argv[0], &is_typed));
  if (!is_typed) return throw_range(env, "gradscope native: attach(view) expects a Uint8Array over the engine memory");
  napi_typedarray_type type;
  size_t length;
  void *data;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL));
  if (type != napi_uint8_array || data == NULL) return throw_range(env, "gradscope native: attach(view) expects a Uint8Array over the engine memory");
  memory_t *memory = memory_of(env);
  memory->base = (uint8_t *)data;
  memory->bytes = length;
  return NULL;
}

// Whether rows x cols floats, rows `ld` apart, starting at byte `offset`, lie inside the memory.
static int inside(const memory_t *memory, double offset, double rows, double cols, double ld) {
  if (offset < 0 || offset != (double)(int64_t)offset || ((int64_t)offset & 3) != 0) return 0;
  if (rows == 0 || cols == 0) return offset <= (double)memory->bytes;
  double last_byte = offset + 4 * ((rows - 1) * ld + cols);
  return last_byte <= (double)memory->bytes;
}

static int is_count(double value) { return value >= 0 && value <= INT32_MAX && value == (double)(int32_t)value; }

// sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc): row-major
// C = alpha·op(A)·op(B) + beta·C on byte offsets a, b, c; beta = 0 never reads C.
static napi_value sgemm(napi_env env, napi_callback_info info) {
  double v[13];
  if (!read_numbers(env, info, 13, v)) return throw_range(env, "gradscope native: sgemm takes 13 numbers");
  int trans_a = v[0] != 0, trans_b = v[1] != 0;
  double m = v[2], n = v[3], k = v[4], lda = v[7], ldb = v[9], ldc = v[12];
  if (!is_count(m) || !is_count(n) || !is_count(k) || !is_count(lda) || !is_count(ldb) || !is_count(ldc)) {
    return throw_range(env, "gradscope native: sgemm: sizes and leading dimensions must be whole numbers >= 0");
  }
  const memory_t *memory = memory_of(env);
  if (memory->base == NULL) return throw_range(env, "gradscope native: sgemm before attach(view)");
  // Stored shapes: op(A) is m x k, so A is k x m when transposed; likewise B.
  double a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
  double b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  if ((a_rows > 1 && lda < a_cols) || (b_rows > 1 && ldb < b_cols) || (m > 1 && ldc < n)) {
    return throw_range(env, "gradscope native: sgemm: a leading dimension is smaller than its matrix's row");
  }
  if (!inside(memory, v[6], a_rows, a_cols, lda) || !inside(memory, v[8], b_rows, b_cols, ldb) || !inside(memory, v[11], m, n, ldc)) {
    return throw_range(env, "gradscope native: sgemm: a matrix reaches outside the engine memory");
  }
  if (m == 0 || n == 0) return NULL;
  // BLAS wants every leading dimension >= max(1, row length) even where no row is read.
  int ilda = (int)(lda > a_cols ? lda : (a_cols > 1 ? a_cols : 1));
  int ildb = (int)(ldb > b_cols ? ldb : (b_cols > 1 ? b_cols : 1));
  int ildc = (int)(ldc > n ? ldc : n);
  panel_t whole = {trans_a, trans_b, (int)m, (int)n, (int)k, ilda, ildb, ildc, (float)v[5], (float)v[10],
                   (const float *)(memory->base + (size_t)v[6]), (const float *)(memory->base + (size_t)v[8]), (float *)(memory->base + (size_t)v[11])};
  panel_t panels[MAX_PANELS];
  run_panels(panels, split_panels(&whole, panels));
  return NULL;
}

// gramLower(x, rows, length, c): the lower triangle (i >= j) of X·Xᵀ for a row-major rows x length
// X, into the rows x rows C. Row panels of equal area under the diagonal, each X[i0:i1]·X[0:i1]ᵀ
// (which also writes part of the upper triangle, scratch for the caller), by a grid that
// depends on the shape only, as sgemm's.
static napi_value gram_lower(napi_env env, napi_callback_info info) {
  double v[4];
  if (!read_numbers(env, info, 4, v)) return throw_range(env, "gradscope native: gramLower takes 4 numbers");
  double rows = v[1], length = v[2];
  if (!is_count(rows) || !is_count(length)) return throw_range(env, "gradscope native: gramLower: sizes must be whole numbers >= 0");
  const memory_t *memory = memory_of(env);
  if (memory->base == NULL) return throw_range(env, "gradscope native: gramLower before attach(view)");
  if (!inside(memory, v[0], rows, length, length) || !inside(memory, v[3], rows, rows, rows)) {
    return throw_range(env, "gradscope native: gramLower: a matrix reaches outside the engine memory");
  }
  if (rows == 0) return NULL;
  const float *x = (const float *)(memory->base + (size_t)v[0]);
  float *c = (float *)(memory->base + (size_t)v[3]);
  int n = (int)rows, len = (int)length, ld = len > 1 ? len : 1;
  double work = rows * rows * length / 2;
  int count = work / MIN_PANEL_WORK > MAX_PANELS ? MAX_PANELS : (int)(work / MIN_PANEL_WORK);
  if (count < 1) count = 1;
  panel_t panels[MAX_PANELS];
  int made = 0, start = 0;
  for (int part = 0; part < count; part++) {
    // Panel `part` ends at rows·sqrt((part + 1)/count), in whole PANEL_UNITs.
    int end = part == count - 1 ? n : (int)(sqrt((part + 1.0) / count) * n / PANEL_UNIT + 0.5) * PANEL_UNIT;
    if (end > n) end = n;
    if (end <= start) continue;
    panels[made++] = (panel_t){0, 1, end - start, end, len, ld, ld, n, 1.0f, 0.0f, x + (size_t)start * len, x, c + (size_t)start * n};
    start = end;
  }
  run_panels(panels, made);
  return NULL;
}

// setThreads(n): the threads a product's panels run on (OpenBLAS itself stays single-threaded).
static napi_value set_threads(napi_env env, napi_callback_info info) {
  double v[1];
  if (!read_numbers(env, info, 1, v) || !is_count(v[0]) || v[0] < 1) return throw_range(env, "gradscope native: setThreads(n) expects a whole number >= 1");
  threads_wanted = (int)v[0];
  return NULL;
}

// info(): { config, core } as OpenBLAS reports them, and the threads products run on.
static napi_value blas_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, config, core, threads;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &config));
  CHECK(napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &core));
  CHECK(napi_create_int32(env, threads_wanted, &threads));
  CHECK(napi_set_named_property(env, result, "config", config));
  CHECK(napi_set_named_property(env, result, "core", core));
  CHECK(napi_set_named_property(env, result, "threads", threads));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  openblas_set_num_threads(1);
  memory_t *memory = calloc(1, sizeof(memory_t));
  if (memory == NULL || napi_set_instance_data(env, memory, free_memory_record, NULL) != napi_ok) {
    free(memory);
    napi_throw_error(env, NULL, "gradscope native: cannot allocate the addon's state");
    return NULL;
  }
  napi_property_descriptor properties[] = {
      {"attach", NULL, attach, NULL, NULL, NULL, napi_default, NULL},
      {"sgemm", NULL, sgemm, NULL, NULL, NULL, napi_default, NULL},
      {"gramLower", NULL, gram_lower, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, blas_info, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
