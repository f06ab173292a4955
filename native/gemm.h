/*
 * Topiary native compute: single-precision GEMM and NHWC convolutions (direct kernels for up to
 * 16 output channels, and up to 64 on AVX-512; im2col + GEMM otherwise) for the training kernels
 * of the wasm backend and the fused step. Row-major throughout.
 */
#ifndef TOPIARY_GEMM_H
#define TOPIARY_GEMM_H

#include <stddef.h>

typedef struct {
  long batch, in_h, in_w, in_c;
  long filter_h, filter_w, out_c;
  long out_h, out_w;
  long stride_h, stride_w, dilation_h, dilation_w;
  long pad_top, pad_left;
} conv_shape;

/*
 * The im2col matrix of images n0.. of x without building it: row = output pixel of those images,
 * column = filter tap (ky, kx, ci); filled by tp_im2col_view.
 */
typedef struct {
  const conv_shape *s;
  const float *x;
  long n0;
  const long *tap_off;  /* per tap: offset from the window's corner in x */
  const long *tap_y, *tap_x; /* per tap: row and column from the window's corner */
} im2col_view;

typedef struct {
  int trans_a, trans_b;  /* op(A) = A^T when set: A is stored K x M (B: N x K) */
  int trans_c;           /* store the result transposed: C holds N x M */
  long m, n, k;
  const float *a; long lda;
  const float *b; long ldb;
  float *c; long ldc;
  int accumulate;        /* C += op(A)·op(B) instead of C = ... */
  const float *bias;     /* length n (added per column of the logical result), or NULL */
  int relu;              /* clamp the result at 0 after the bias */
  int serial;            /* run on the calling thread only */
  /*
   * op(A) is the im2col matrix of a convolution input, read on the fly (a and lda unused; trans_a
   * must be 0). col_b is the same for op(B) = colᵀ (trans_b 1): what a narrow product swaps col_a to.
   */
  const im2col_view *col_a, *col_b;
} gemm_args;

/* C = op(A)·op(B) (+ C) (+ bias) (relu). Uses the thread pool for large products. */
void tp_gemm(const gemm_args *g);


/* y[N,Ho,Wo,Co] = conv(x[N,H,W,Ci], w[kh,kw,Ci,Co]) (+ bias[Co]) (relu). */
void tp_conv2d(const conv_shape *s, const float *x, const float *w, const float *bias, int relu, float *y);
/* dx[N,H,W,Ci] = gradient of the conv w.r.t. its input, given dy[N,Ho,Wo,Co] and w. */
void tp_conv2d_backprop_input(const conv_shape *s, const float *dy, const float *w, float *dx);
/* dw[kh,kw,Ci,Co] = gradient of the conv w.r.t. its filter, given x and dy. */
void tp_conv2d_backprop_filter(const conv_shape *s, const float *x, const float *dy, float *dw);

/*
 * One Adam step over n values (tf.train.adam's formula): m1 = b1 m + (1-b1) g,
 * v1 = b2 v + (1-b2) g^2, w1 = w - lr m1 c1 / (sqrt(v1 c2) + eps), c1 = 1/(1-b1^t), c2 = 1/(1-b2^t).
 * The outputs may be the inputs (w1 == w, m1 == m, v1 == v): an update in place.
 */
void tp_adam(long n, const float *w, const float *g, const float *m, const float *v, float *w1, float *m1, float *v1, float lr, float b1,
             float b2, float eps, float c1, float c2);

/* Compute threads (1 without OpenMP) and the instruction set the kernels were dispatched to. */
int tp_threads(void);
void tp_set_threads(int n);
const char *tp_isa(void);
/* What tp_isa names, as a level to dispatch on: 0 baseline, 1 AVX2+FMA, 2 AVX-512F (with AVX2+FMA). */
int tp_isa_level(void);
/* Frees the calling thread's scratch buffers (kept between calls otherwise). */
void tp_release_workspace(void);

#endif
