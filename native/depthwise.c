/*
 * Depthwise convolution filter gradient (NHWC, filter [fh, fw, C, M]) for the tfjs step:
 *
 *   dW[i,j,c,m] = sum_{n,oy,ox} x[n, oy*sh + i*dh - pt, ox*sw + j*dw - pl, c] * dy[n, oy, ox, c*M + m]
 *
 * tfjs-backend-wasm has no kernel for it; the wasm fallback (engine/kernels/
 * depthwise-backprop-filter.ts) builds fh*fw strided slices of x and a batched matMul, which was
 * ~60% of a MobileNetV2 training step (tf.profile, test/bench/README.md). Here it is one pass over
 * dy: for each output pixel and tap, a multiply-add along the contiguous channel axis (vectorized
 * by the compiler). Images are spread over OpenMP threads, each accumulating into its own copy of
 * dW (fh*fw*C*M floats, small), summed at the end.
 */
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm.h"

/* Below this many multiply-adds one thread does it all (thread start-up would cost more). */
#define DW_PARALLEL_MIN_MACS (1L << 18)

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define DW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DW_CLONES
#endif

/* Adds image n's contribution to acc[fh*fw*C*M]. */
DW_CLONES static void dw_filter_image(const conv_shape *s, long mult, const float *restrict x, const float *restrict dy, long n, float *restrict acc) {
  const long C = s->in_c, CM = C * mult;
  for (long oy = 0; oy < s->out_h; oy++) {
    for (long ox = 0; ox < s->out_w; ox++) {
      const float *g = dy + ((n * s->out_h + oy) * s->out_w + ox) * CM;
      for (long i = 0; i < s->filter_h; i++) {
        const long iy = oy * s->stride_h + i * s->dilation_h - s->pad_top;
        if (iy < 0 || iy >= s->in_h) continue;
        for (long j = 0; j < s->filter_w; j++) {
          const long ix = ox * s->stride_w + j * s->dilation_w - s->pad_left;
          if (ix < 0 || ix >= s->in_w) continue;
          const float *xp = x + ((n * s->in_h + iy) * s->in_w + ix) * C;
          float *a = acc + (i * s->filter_w + j) * CM;
          if (mult == 1) {
            for (long c = 0; c < C; c++) a[c] += xp[c] * g[c];
          } else {
            for (long c = 0; c < C; c++)
              for (long m = 0; m < mult; m++) a[c * mult + m] += xp[c] * g[c * mult + m];
          }
        }
      }
    }
  }
}

/* dw[fh, fw, C, M] = the filter gradient above; s->out_c must be C * mult. */
void tp_depthwise_backprop_filter(const conv_shape *s, long mult, const float *x, const float *dy, float *dw) {
  const long size = s->filter_h * s->filter_w * s->in_c * mult;
  const double macs = (double)s->batch * s->out_h * s->out_w * s->filter_h * s->filter_w * s->in_c * mult;
  int threads = macs >= (double)DW_PARALLEL_MIN_MACS ? tp_threads() : 1;
  if (threads > s->batch) threads = (int)s->batch;
  if (threads < 1) threads = 1;
  memset(dw, 0, sizeof(float) * size);
  if (threads == 1) {
    for (long n = 0; n < s->batch; n++) dw_filter_image(s, mult, x, dy, n, dw);
    return;
  }
  float *parts = calloc((size_t)threads * size, sizeof(float));
  if (!parts) {
    for (long n = 0; n < s->batch; n++) dw_filter_image(s, mult, x, dy, n, dw);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const long n0 = s->batch * t / threads, n1 = s->batch * (t + 1) / threads;
    for (long n = n0; n < n1; n++) dw_filter_image(s, mult, x, dy, n, parts + (long)t * size);
  }
#else
  for (long n = 0; n < s->batch; n++) dw_filter_image(s, mult, x, dy, n, parts);
#endif
  for (int t = 0; t < threads; t++)
    for (long i = 0; i < size; i++) dw[i] += parts[(long)t * size + i];
  free(parts);
}

/* ---- Node-API: depthwiseBackpropFilter(shape[15], multiplier, x, dy, dw) ------------------------ */

static int dw_floats(napi_env env, napi_value v, float **p, long *len) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, "topiary-native: depthwiseBackpropFilter wants Float32Arrays");
    return 0;
  }
  *p = data;
  *len = (long)length;
  return 1;
}

napi_value tp_napi_depthwise_backprop_filter(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5) {
    napi_throw_type_error(env, NULL, "topiary-native: depthwiseBackpropFilter takes 5 arguments");
    return NULL;
  }
  long v[15];
  uint32_t n = 0;
  bool is_array = false;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[0], &n) != napi_ok || n != 15) {
    napi_throw_type_error(env, NULL, "topiary-native: conv shape must be an array of 15 integers");
    return NULL;
  }
  for (uint32_t i = 0; i < 15; i++) {
    napi_value e;
    int64_t val;
    if (napi_get_element(env, argv[0], i, &e) != napi_ok || napi_get_value_int64(env, e, &val) != napi_ok) {
      napi_throw_type_error(env, NULL, "topiary-native: conv shape entries must be integers");
      return NULL;
    }
    v[i] = (long)val;
  }
  const conv_shape s = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14]};
  int64_t mult;
  if (napi_get_value_int64(env, argv[1], &mult) != napi_ok || mult < 1 || s.out_c != s.in_c * mult || s.stride_h < 1 || s.stride_w < 1 ||
      s.dilation_h < 1 || s.dilation_w < 1) {
    napi_throw_range_error(env, NULL, "topiary-native: depthwise shape needs outC = inC * multiplier and strides, dilations >= 1");
    return NULL;
  }
  float *x, *dy, *dw;
  long lx, ldy, ldw;
  if (!dw_floats(env, argv[2], &x, &lx) || !dw_floats(env, argv[3], &dy, &ldy) || !dw_floats(env, argv[4], &dw, &ldw)) return NULL;
  if (lx < s.batch * s.in_h * s.in_w * s.in_c || ldy < s.batch * s.out_h * s.out_w * s.out_c || ldw < s.filter_h * s.filter_w * s.out_c) {
    napi_throw_range_error(env, NULL, "topiary-native: an array is smaller than the depthwise shape says");
    return NULL;
  }
  tp_depthwise_backprop_filter(&s, (long)mult, x, dy, dw);
  return NULL;
}
