/*
 * Node-API surface of the native kernels. Every array is a Float32Array (in Topiary: a view of the
 * wasm backend's heap); extents are checked against the arrays' lengths before any pointer is
 * used, so a wrong shape throws a RangeError instead of touching memory it should not.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gemm.h"
#include "train.h"

#define CHECK(call)                                                 \
  do {                                                              \
    if ((call) != napi_ok) {                                        \
      napi_throw_error(env, NULL, "topiary-native: N-API failure"); \
      return NULL;                                                  \
    }                                                               \
  } while (0)

static int get_long(napi_env env, napi_value v, long *out, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != d || d < 0 || d > 9007199254740991.0 || (double)(long)d != d) {
    char msg[96];
    snprintf(msg, sizeof msg, "topiary-native: %s must be a non-negative integer", what);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  *out = (long)d;
  return 1;
}

/* Data pointer and length (in elements) of a typed array of the wanted type; null/undefined gives NULL when allowed. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, const char *type_name, void **data, long *length, int optional,
                     const char *what) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return 0;
  if (optional && (type == napi_null || type == napi_undefined)) {
    *data = NULL;
    *length = 0;
    return 1;
  }
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  napi_typedarray_type t;
  size_t n = 0;
  void *ptr = NULL;
  if (!is_typed || napi_get_typedarray_info(env, v, &t, &n, &ptr, NULL, NULL) != napi_ok || t != want) {
    char msg[96];
    snprintf(msg, sizeof msg, "topiary-native: %s must be a%s %s", what, type_name[0] == 'I' ? "n" : "", type_name);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  *data = ptr;
  *length = (long)n;
  return 1;
}

static int get_floats(napi_env env, napi_value v, float **data, long *length, int optional, const char *what) {
  return get_typed(env, v, napi_float32_array, "Float32Array", (void **)data, length, optional, what);
}

static int fits(napi_env env, long length, long rows, long cols, long ld, const char *what) {
  if (rows == 0 || cols == 0) return 1;
  if (ld < cols || (rows - 1) * ld + cols > length) {
    char msg[128];
    snprintf(msg, sizeof msg, "topiary-native: %s (%ld x %ld, stride %ld) does not fit its array of %ld", what, rows, cols, ld, length);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

/* gemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, bias|null, relu) */
static napi_value gemm(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 14) {
    napi_throw_type_error(env, NULL, "topiary-native: gemm takes 14 arguments");
    return NULL;
  }
  gemm_args g = {0};
  long ta, tb, acc, relu, la, lb, lc, lbias;
  float *a, *b, *c, *bias;
  if (!get_long(env, argv[0], &ta, "transA") || !get_long(env, argv[1], &tb, "transB") || !get_long(env, argv[2], &g.m, "m") ||
      !get_long(env, argv[3], &g.n, "n") || !get_long(env, argv[4], &g.k, "k") || !get_floats(env, argv[5], &a, &la, 0, "a") ||
      !get_long(env, argv[6], &g.lda, "lda") || !get_floats(env, argv[7], &b, &lb, 0, "b") || !get_long(env, argv[8], &g.ldb, "ldb") ||
      !get_floats(env, argv[9], &c, &lc, 0, "c") || !get_long(env, argv[10], &g.ldc, "ldc") || !get_long(env, argv[11], &acc, "accumulate") ||
      !get_floats(env, argv[12], &bias, &lbias, 1, "bias") || !get_long(env, argv[13], &relu, "relu"))
    return NULL;
  g.trans_a = ta != 0;
  g.trans_b = tb != 0;
  if (!fits(env, la, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda, "a") ||
      !fits(env, lb, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb, "b") || !fits(env, lc, g.m, g.n, g.ldc, "c"))
    return NULL;
  if (bias && lbias < g.n) {
    napi_throw_range_error(env, NULL, "topiary-native: bias is shorter than n");
    return NULL;
  }
  g.a = a;
  g.b = b;
  g.c = c;
  g.accumulate = acc != 0;
  g.bias = bias;
  g.relu = relu != 0;
  tp_gemm(&g);
  return NULL;
}

/* shape: [batch, inH, inW, inC, filterH, filterW, outC, outH, outW, strideH, strideW, dilationH, dilationW, padTop, padLeft] */
static int get_conv_shape(napi_env env, napi_value v, conv_shape *s) {
  long vals[15];
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, &n) != napi_ok || n != 15) {
    napi_throw_type_error(env, NULL, "topiary-native: conv shape must be an array of 15 integers");
    return 0;
  }
  for (uint32_t i = 0; i < 15; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || !get_long(env, e, &vals[i], "conv shape entry")) return 0;
  }
  *s = (conv_shape){vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6], vals[7], vals[8], vals[9], vals[10], vals[11], vals[12], vals[13], vals[14]};
  if (s->stride_h < 1 || s->stride_w < 1 || s->dilation_h < 1 || s->dilation_w < 1) {
    napi_throw_range_error(env, NULL, "topiary-native: strides and dilations must be at least 1");
    return 0;
  }
  return 1;
}

static int conv_sizes_ok(napi_env env, const conv_shape *s, long lx, long lw, long ly) {
  const long x = s->batch * s->in_h * s->in_w * s->in_c;
  const long w = s->filter_h * s->filter_w * s->in_c * s->out_c;
  const long y = s->batch * s->out_h * s->out_w * s->out_c;
  if (lx < x || lw < w || ly < y) {
    napi_throw_range_error(env, NULL, "topiary-native: an array is smaller than the conv shape says");
    return 0;
  }
  return 1;
}

typedef enum { CONV_FORWARD, CONV_INPUT, CONV_FILTER } conv_kind;

static napi_value conv(napi_env env, napi_callback_info info, conv_kind kind) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const size_t want = kind == CONV_FORWARD ? 6 : 4;
  if (argc != want) {
    napi_throw_type_error(env, NULL, "topiary-native: wrong number of arguments for a conv");
    return NULL;
  }
  conv_shape s;
  float *p1, *p2, *p3, *bias = NULL;
  long l1, l2, l3, lbias = 0, relu = 0;
  if (!get_conv_shape(env, argv[0], &s) || !get_floats(env, argv[1], &p1, &l1, 0, "input 1") || !get_floats(env, argv[2], &p2, &l2, 0, "input 2"))
    return NULL;
  if (kind == CONV_FORWARD) {
    if (!get_floats(env, argv[3], &bias, &lbias, 1, "bias") || !get_long(env, argv[4], &relu, "relu") || !get_floats(env, argv[5], &p3, &l3, 0, "y"))
      return NULL;
    if (bias && lbias < s.out_c) {
      napi_throw_range_error(env, NULL, "topiary-native: bias is shorter than the output channels");
      return NULL;
    }
    if (!conv_sizes_ok(env, &s, l1, l2, l3)) return NULL;
    tp_conv2d(&s, p1, p2, bias, relu != 0, p3);
  } else if (kind == CONV_INPUT) {
    if (!get_floats(env, argv[3], &p3, &l3, 0, "dx")) return NULL;
    if (!conv_sizes_ok(env, &s, l3, l2, l1)) return NULL; /* dy, w, dx */
    tp_conv2d_backprop_input(&s, p1, p2, p3);
  } else {
    if (!get_floats(env, argv[3], &p3, &l3, 0, "dw")) return NULL;
    if (!conv_sizes_ok(env, &s, l1, l3, l2)) return NULL; /* x, dy, dw */
    tp_conv2d_backprop_filter(&s, p1, p2, p3);
  }
  return NULL;
}

static napi_value conv2d(napi_env env, napi_callback_info info) { return conv(env, info, CONV_FORWARD); }
static napi_value conv2d_backprop_input(napi_env env, napi_callback_info info) { return conv(env, info, CONV_INPUT); }
static napi_value conv2d_backprop_filter(napi_env env, napi_callback_info info) { return conv(env, info, CONV_FILTER); }

/* adam(w, g, m, v, w1, m1, v1, learningRate, beta1, beta2, epsilon, step) */
static napi_value adam(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 12) {
    napi_throw_type_error(env, NULL, "topiary-native: adam takes 12 arguments");
    return NULL;
  }
  static const char *names[7] = {"w", "g", "m", "v", "w1", "m1", "v1"};
  float *p[7];
  long len[7];
  for (int i = 0; i < 7; i++) {
    if (!get_floats(env, argv[i], &p[i], &len[i], 0, names[i])) return NULL;
    if (len[i] != len[0]) {
      napi_throw_range_error(env, NULL, "topiary-native: adam arrays differ in length");
      return NULL;
    }
  }
  double h[4];
  long step;
  for (int i = 0; i < 4; i++) CHECK(napi_get_value_double(env, argv[7 + i], &h[i]));
  if (!get_long(env, argv[11], &step, "step")) return NULL;
  const double c1 = 1.0 / (1.0 - pow(h[1], (double)step)), c2 = 1.0 / (1.0 - pow(h[2], (double)step));
  tp_adam(len[0], p[0], p[1], p[2], p[3], p[4], p[5], p[6], (float)h[0], (float)h[1], (float)h[2], (float)h[3], (float)c1, (float)c2);
  return NULL;
}

/* ---- fused training step -------------------------------------------------------------------- */

typedef struct {
  tp_trainer *t;
} trainer_box;

static void trainer_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  trainer_box *box = data;
  tp_trainer_free(box->t);
  free(box);
}

static tp_trainer *get_trainer(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external || napi_get_value_external(env, v, &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "topiary-native: not a trainer");
    return NULL;
  }
  tp_trainer *t = ((trainer_box *)data)->t;
  if (!t) napi_throw_error(env, NULL, "topiary-native: trainer already freed");
  return t;
}

/* The trainer in argv[0] of a call that takes exactly `want` arguments; NULL with an exception set otherwise. */
static tp_trainer *trainer_call(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *name) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "topiary-native: N-API failure");
    return NULL;
  }
  if (argc != want) {
    char msg[96];
    snprintf(msg, sizeof msg, "topiary-native: %s takes %zu arguments", name, want);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
  }
  return get_trainer(env, argv[0]);
}

/* trainerCreate(codes: Int32Array, reals: Float64Array, paramSizes: Float64Array, probs, learningRate, beta1, beta2, epsilon) */
static napi_value trainer_create(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 8) {
    napi_throw_type_error(env, NULL, "topiary-native: trainerCreate takes 8 arguments");
    return NULL;
  }
  void *pc = NULL, *pr = NULL, *ps = NULL;
  long nc = 0, nr = 0, ns = 0;
  if (!get_typed(env, argv[0], napi_int32_array, "Int32Array", &pc, &nc, 0, "node codes") ||
      !get_typed(env, argv[1], napi_float64_array, "Float64Array", &pr, &nr, 0, "node reals") ||
      !get_typed(env, argv[2], napi_float64_array, "Float64Array", &ps, &ns, 0, "parameter sizes"))
    return NULL;
  if (nc % TP_NODE_CODE != 0 || nr != 2 * (nc / TP_NODE_CODE)) {
    napi_throw_range_error(env, NULL, "topiary-native: node codes are not whole nodes, or not 2 reals per node");
    return NULL;
  }
  long *sizes = malloc(sizeof(long) * (ns > 0 ? ns : 1));
  for (long i = 0; i < ns; i++) sizes[i] = (long)((double *)ps)[i];
  double h[5];
  for (int i = 0; i < 5; i++) {
    if (napi_get_value_double(env, argv[3 + i], &h[i]) != napi_ok) {
      free(sizes);
      napi_throw_type_error(env, NULL, "topiary-native: trainerCreate hyper-parameters must be numbers");
      return NULL;
    }
  }
  const char *err = NULL;
  tp_trainer *t = tp_trainer_create((int)(nc / TP_NODE_CODE), pc, pr, (int)ns, sizes, h[0] != 0, h[1], h[2], h[3], h[4], &err);
  free(sizes);
  if (!t) {
    char msg[160];
    snprintf(msg, sizeof msg, "topiary-native: trainer description rejected: %s", err ? err : "unknown");
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  trainer_box *box = malloc(sizeof *box);
  box->t = t;
  napi_value ext;
  if (napi_create_external(env, box, trainer_finalize, NULL, &ext) != napi_ok) {
    tp_trainer_free(t);
    free(box);
    napi_throw_error(env, NULL, "topiary-native: N-API failure");
    return NULL;
  }
  return ext;
}

/* trainerParam(trainer, index, values: Float32Array, write: 0 read into values / 1 set from values) */
static napi_value trainer_param(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  tp_trainer *t = trainer_call(env, info, 4, argv, "trainerParam");
  if (!t) return NULL;
  long p, write, len;
  float *values;
  if (!get_long(env, argv[1], &p, "parameter index") || !get_floats(env, argv[2], &values, &len, 0, "values") || !get_long(env, argv[3], &write, "write"))
    return NULL;
  if (p >= tp_trainer_nparams(t) || len != tp_trainer_param_size(t, (int)p)) {
    napi_throw_range_error(env, NULL, "topiary-native: parameter index or size does not match the trainer");
    return NULL;
  }
  if (write) tp_trainer_set_param(t, (int)p, values);
  else tp_trainer_get_param(t, (int)p, values);
  return NULL;
}

/* trainerMask(trainer, index, mask: Float32Array | null) */
static napi_value trainer_mask(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  tp_trainer *t = trainer_call(env, info, 3, argv, "trainerMask");
  if (!t) return NULL;
  long p, len;
  float *mask;
  if (!get_long(env, argv[1], &p, "parameter index") || !get_floats(env, argv[2], &mask, &len, 1, "mask")) return NULL;
  if (p >= tp_trainer_nparams(t) || (mask && len != tp_trainer_param_size(t, (int)p))) {
    napi_throw_range_error(env, NULL, "topiary-native: mask index or size does not match the trainer");
    return NULL;
  }
  tp_trainer_set_mask(t, (int)p, mask);
  return NULL;
}

/* trainerStep(trainer, x: Float32Array, labels: Int32Array, n) -> [loss, accuracy] */
static napi_value trainer_step(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  tp_trainer *t = trainer_call(env, info, 4, argv, "trainerStep");
  if (!t) return NULL;
  long lx, n;
  float *x;
  if (!get_floats(env, argv[1], &x, &lx, 0, "x") || !get_long(env, argv[3], &n, "n")) return NULL;
  void *py = NULL;
  long ly = 0;
  if (!get_typed(env, argv[2], napi_int32_array, "Int32Array", &py, &ly, 0, "labels")) return NULL;
  if (n < 1 || lx < n * tp_trainer_input_size(t) || ly < n) {
    napi_throw_range_error(env, NULL, "topiary-native: batch arrays are smaller than n samples");
    return NULL;
  }
  const int *labels = py;
  const long classes = tp_trainer_classes(t);
  for (long r = 0; r < n; r++) {
    if (labels[r] < 0 || labels[r] >= classes) {
      char msg[128];
      snprintf(msg, sizeof msg, "topiary-native: label %d of sample %ld is outside 0..%ld", labels[r], r, classes - 1);
      napi_throw_range_error(env, NULL, msg);
      return NULL;
    }
  }
  double loss, acc;
  if (tp_trainer_step(t, x, labels, n, &loss, &acc) != 0) {
    napi_throw_range_error(env, NULL, "topiary-native: out of memory for the training step's activations (try a smaller batch)");
    return NULL;
  }
  napi_value out, v0, v1;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_double(env, loss, &v0));
  CHECK(napi_create_double(env, acc, &v1));
  CHECK(napi_set_element(env, out, 0, v0));
  CHECK(napi_set_element(env, out, 1, v1));
  return out;
}

/* trainerPredict(trainer, x: Float32Array, n, out: Float32Array): the model's n x classes outputs, inference mode. */
static napi_value trainer_predict(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  tp_trainer *t = trainer_call(env, info, 4, argv, "trainerPredict");
  if (!t) return NULL;
  long lx, lo, n;
  float *x, *out;
  if (!get_floats(env, argv[1], &x, &lx, 0, "x") || !get_long(env, argv[2], &n, "n") || !get_floats(env, argv[3], &out, &lo, 0, "out")) return NULL;
  if (n < 1 || lx < n * tp_trainer_input_size(t) || lo < n * tp_trainer_classes(t)) {
    napi_throw_range_error(env, NULL, "topiary-native: prediction arrays are smaller than n samples");
    return NULL;
  }
  if (tp_trainer_predict(t, x, n, out) != 0) {
    napi_throw_range_error(env, NULL, "topiary-native: out of memory for the activations (try a smaller batch)");
    return NULL;
  }
  return NULL;
}

/* trainerFree(trainer): frees now instead of at garbage collection. */
static napi_value trainer_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc == 1 && napi_get_value_external(env, argv[0], &data) == napi_ok && data) {
    trainer_box *box = data;
    tp_trainer_free(box->t);
    box->t = NULL;
  }
  return NULL;
}

/* trainerBytes(trainer) -> bytes of activation memory the trainer holds. */
static napi_value trainer_bytes(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tp_trainer *t = trainer_call(env, info, 1, argv, "trainerBytes");
  if (!t) return NULL;
  napi_value out;
  CHECK(napi_create_double(env, (double)tp_trainer_bytes(t), &out));
  return out;
}

static napi_value info_fn(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj, isa, threads, openmp;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_create_string_utf8(env, tp_isa(), NAPI_AUTO_LENGTH, &isa));
  CHECK(napi_create_int32(env, tp_threads(), &threads));
#ifdef _OPENMP
  CHECK(napi_get_boolean(env, true, &openmp));
#else
  CHECK(napi_get_boolean(env, false, &openmp));
#endif
  CHECK(napi_set_named_property(env, obj, "isa", isa));
  CHECK(napi_set_named_property(env, obj, "threads", threads));
  CHECK(napi_set_named_property(env, obj, "openmp", openmp));
  return obj;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  long n;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1 || !get_long(env, argv[0], &n, "threads")) return NULL;
  tp_set_threads((int)n);
  return NULL;
}

static void release(void *unused) {
  (void)unused;
  tp_release_workspace();
}

/* depthwise.c */
napi_value tp_napi_depthwise_backprop_filter(napi_env env, napi_callback_info info);

NAPI_MODULE_INIT() {
  /* Each worker thread that loads the addon frees its scratch buffers when it exits. */
  napi_add_env_cleanup_hook(env, release, NULL);
  napi_property_descriptor props[] = {
      {"gemm", NULL, gemm, NULL, NULL, NULL, napi_default, NULL},
      {"conv2d", NULL, conv2d, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dBackpropInput", NULL, conv2d_backprop_input, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dBackpropFilter", NULL, conv2d_backprop_filter, NULL, NULL, NULL, napi_default, NULL},
      {"adam", NULL, adam, NULL, NULL, NULL, napi_default, NULL},
      {"trainerCreate", NULL, trainer_create, NULL, NULL, NULL, napi_default, NULL},
      {"trainerParam", NULL, trainer_param, NULL, NULL, NULL, napi_default, NULL},
      {"trainerMask", NULL, trainer_mask, NULL, NULL, NULL, napi_default, NULL},
      {"trainerStep", NULL, trainer_step, NULL, NULL, NULL, napi_default, NULL},
      {"trainerFree", NULL, trainer_free, NULL, NULL, NULL, napi_default, NULL},
      {"trainerBytes", NULL, trainer_bytes, NULL, NULL, NULL, napi_default, NULL},
      {"trainerPredict", NULL, trainer_predict, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, info_fn, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"depthwiseBackpropFilter", NULL, tp_napi_depthwise_backprop_filter, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
