// gradscope's native backend: single-precision BLAS products run in place on the engine's shared
// WebAssembly memory (src/engine/native.ts loads this addon; src/engine/kernels/gemm.ts calls
// it). JavaScript hands over a view of the memory once (and again after the memory grows); each
// call then passes byte offsets into it, checked against the memory's length here, so a bad
// offset is a RangeError and never a write outside the memory.
#include <cblas.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>

// OpenBLAS's own entry points (declared by its cblas.h; repeated so the intent is visible).
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

static uint8_t *memory_base = NULL;
static size_t memory_bytes = 0;

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
  memory_base = (uint8_t *)data;
  memory_bytes = length;
  return NULL;
}

// Whether rows x cols floats, rows `ld` apart, starting at byte `offset`, lie inside the memory.
static int inside(double offset, double rows, double cols, double ld) {
  if (offset < 0 || offset != (double)(int64_t)offset || ((int64_t)offset & 3) != 0) return 0;
  if (rows == 0 || cols == 0) return offset <= (double)memory_bytes;
  double last_byte = offset + 4 * ((rows - 1) * ld + cols);
  return last_byte <= (double)memory_bytes;
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
  if (memory_base == NULL) return throw_range(env, "gradscope native: sgemm before attach(view)");
  // Stored shapes: op(A) is m x k, so A is k x m when transposed; likewise B.
  double a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
  double b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  if ((a_rows > 1 && lda < a_cols) || (b_rows > 1 && ldb < b_cols) || (m > 1 && ldc < n)) {
    return throw_range(env, "gradscope native: sgemm: a leading dimension is smaller than its matrix's row");
  }
  if (!inside(v[6], a_rows, a_cols, lda) || !inside(v[8], b_rows, b_cols, ldb) || !inside(v[11], m, n, ldc)) {
    return throw_range(env, "gradscope native: sgemm: a matrix reaches outside the engine memory");
  }
  if (m == 0 || n == 0) return NULL;
  // BLAS wants every leading dimension >= max(1, row length) even where no row is read.
  int ilda = (int)(lda > a_cols ? lda : (a_cols > 1 ? a_cols : 1));
  int ildb = (int)(ldb > b_cols ? ldb : (b_cols > 1 ? b_cols : 1));
  int ildc = (int)(ldc > n ? ldc : n);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, (float)v[5],
              (const float *)(memory_base + (size_t)v[6]), ilda, (const float *)(memory_base + (size_t)v[8]), ildb, (float)v[10],
              (float *)(memory_base + (size_t)v[11]), ildc);
  return NULL;
}

// gramLower(x, rows, length, c): the lower triangle (i >= j) of X·Xᵀ for a row-major rows x length
// X, into the rows x rows C (ssyrk; the upper triangle is not written).
static napi_value gram_lower(napi_env env, napi_callback_info info) {
  double v[4];
  if (!read_numbers(env, info, 4, v)) return throw_range(env, "gradscope native: gramLower takes 4 numbers");
  double rows = v[1], length = v[2];
  if (!is_count(rows) || !is_count(length)) return throw_range(env, "gradscope native: gramLower: sizes must be whole numbers >= 0");
  if (memory_base == NULL) return throw_range(env, "gradscope native: gramLower before attach(view)");
  if (!inside(v[0], rows, length, length) || !inside(v[3], rows, rows, rows)) {
    return throw_range(env, "gradscope native: gramLower: a matrix reaches outside the engine memory");
  }
  if (rows == 0) return NULL;
  cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)rows, (int)length, 1.0f, (const float *)(memory_base + (size_t)v[0]),
              (int)(length > 1 ? length : 1), 0.0f, (float *)(memory_base + (size_t)v[3]), (int)rows);
  return NULL;
}

// setThreads(n): the threads OpenBLAS runs a product on.
static napi_value set_threads(napi_env env, napi_callback_info info) {
  double v[1];
  if (!read_numbers(env, info, 1, v) || !is_count(v[0]) || v[0] < 1) return throw_range(env, "gradscope native: setThreads(n) expects a whole number >= 1");
  openblas_set_num_threads((int)v[0]);
  return NULL;
}

// info(): { config, core, threads } as OpenBLAS reports them.
static napi_value blas_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, config, core, threads;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &config));
  CHECK(napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &core));
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &threads));
  CHECK(napi_set_named_property(env, result, "config", config));
  CHECK(napi_set_named_property(env, result, "core", core));
  CHECK(napi_set_named_property(env, result, "threads", threads));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
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
