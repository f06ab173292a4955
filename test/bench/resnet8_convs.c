/*
 * ResNet-8's convolutions (32x32x3 input, 16/32/64 channels, 'same' padding) through native/gemm.c
 * alone: forward, filter gradient and input gradient, as one training lane runs them (batch 32 of
 * 64, one thread), ms per call (thread CPU time, median-free: mean of `reps` after a warm-up) and
 * GFLOP/s. Compare kernels within one run of each, alternating, with the switches gemm.c reads:
 * TOPIARY_NATIVE_ISA=avx2 (no zmm kernels), TOPIARY_DIRECT_CONV=0 (GEMM for every convolution),
 * TOPIARY_TRANSPOSED_GRAD=0 (stride-1 input gradients on GEMM + col2im).
 *
 * Run: gcc -O3 -std=gnu11 -ffp-contract=fast -fno-math-errno -fopenmp -Wno-psabi -Inative \
 *        test/bench/resnet8_convs.c native/gemm.c -o /tmp/resnet8_convs -lm && /tmp/resnet8_convs [reps=20] [batch=32]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gemm.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
  const char *name;
  long h, w, ci, co, f, stride;
} layer;

static float *values(long n) {
  float *p = malloc(sizeof(float) * n);
  if (!p) abort();
  for (long i = 0; i < n; i++) p[i] = (float)(rand() % 1000) / 1000.0f - 0.5f;
  return p;
}

int main(int argc, char **argv) {
  const int reps = argc > 1 ? atoi(argv[1]) : 20;
  const long batch = argc > 2 ? atol(argv[2]) : 32;
  tp_set_threads(1);
  static const layer layers[] = {
      {"stem 3->16 3x3", 32, 32, 3, 16, 3, 1},       {"16->16 3x3 @32", 32, 32, 16, 16, 3, 1},   {"16->32 3x3 s2", 32, 32, 16, 32, 3, 2},
      {"32->32 3x3 @16", 16, 16, 32, 32, 3, 1},      {"16->32 1x1 s2", 32, 32, 16, 32, 1, 2},    {"32->64 3x3 s2", 16, 16, 32, 64, 3, 2},
      {"64->64 3x3 @8", 8, 8, 64, 64, 3, 1},         {"32->64 1x1 s2", 16, 16, 32, 64, 1, 2},
  };
  printf("native/gemm.c kernels: %s, batch %ld, 1 thread, thread CPU ms per call (mean of %d)\n", tp_isa(), batch, reps);
  double total[3] = {0, 0, 0};
  for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
    const layer c = layers[l];
    conv_shape s = {0};
    s.batch = batch, s.in_h = c.h, s.in_w = c.w, s.in_c = c.ci, s.filter_h = s.filter_w = c.f, s.out_c = c.co;
    s.stride_h = s.stride_w = c.stride, s.dilation_h = s.dilation_w = 1;
    s.out_h = (c.h + c.stride - 1) / c.stride, s.out_w = (c.w + c.stride - 1) / c.stride;
    long pad = (s.out_h - 1) * c.stride + c.f - c.h; /* 'same': the extra row/column goes after */
    if (pad < 0) pad = 0;
    s.pad_top = s.pad_left = pad / 2;
    const long xs = batch * c.h * c.w * c.ci, ys = batch * s.out_h * s.out_w * c.co, ws = c.f * c.f * c.ci * c.co;
    float *x = values(xs), *y = values(ys), *w = values(ws), *dx = values(xs), *dw = values(ws);
    const double macs = (double)batch * s.out_h * s.out_w * ws;
    double ms[3];
    for (int kind = 0; kind < 3; kind++) {
      for (int r = -1; r < reps; r++) {
        const double t0 = now();
        if (kind == 0) tp_conv2d(&s, x, w, 0, 1, y);
        else if (kind == 1) tp_conv2d_backprop_filter(&s, x, y, dw);
        else tp_conv2d_backprop_input(&s, y, w, dx);
        if (r == -1) ms[kind] = 0.0; /* warm-up */
        else ms[kind] += (now() - t0) * 1e3 / reps;
      }
    }
    if (l == 0) ms[2] = 0.0; /* the first layer needs no input gradient */
    for (int k = 0; k < 3; k++) total[k] += ms[k];
    printf("%-16s fwd %6.3f ms (%5.1f GF/s)  dW %6.3f ms (%5.1f)  dX %6.3f ms (%5.1f)\n", c.name, ms[0], 2e-6 * macs / ms[0], ms[1], 2e-6 * macs / ms[1],
           ms[2], ms[2] > 0 ? 2e-6 * macs / ms[2] : 0.0);
    free(x), free(y), free(w), free(dx), free(dw);
  }
  printf("total            fwd %6.2f ms  dW %6.2f ms  dX %6.2f ms\n", total[0], total[1], total[2]);
  return 0;
}
