/*
 * Blocked single-precision GEMM (GotoBLAS-style packing, one 6x16 register tile) and NHWC
 * convolutions built on it. The inner kernel is written once with GCC/Clang vector extensions and
 * compiled twice: for AVX2+FMA and for the baseline instruction set, chosen at run time; on an
 * AVX-512 CPU the GEMM tile runs a zmm variant of it (micro_avx512, and micro2_avx512 over two
 * panels), and convolutions with up to 64 output channels skip the GEMM for direct zmm kernels
 * (tp_isa() then says "avx512f+fma"; TOPIARY_NATIVE_ISA=avx2 keeps every kernel AVX2). Threads
 * come from OpenMP when the compiler has it.
 */
#include "gemm.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MR 6
#define NR 16
#define KC 256
#define MC 1020 /* rows of op(A) packed at a time, a multiple of MR */
#define NC 4096 /* columns of op(B) packed at a time, a multiple of NR */
/* Below this many multiply-adds a product runs on the calling thread only. */
#define PARALLEL_MIN_MACS (1L << 20)

typedef float v8 __attribute__((vector_size(32)));
typedef int vi8 __attribute__((vector_size(32)));

static int g_threads = 0;

int tp_threads(void) {
#ifdef _OPENMP
  if (g_threads <= 0) g_threads = omp_get_num_procs();
  return g_threads;
#else
  return 1;
#endif
}

void tp_set_threads(int n) {
#ifdef _OPENMP
  g_threads = n > 0 ? n : omp_get_num_procs();
#else
  (void)n;
#endif
}

/* ---- packing ------------------------------------------------------------------------------ */

/*
 * Packing straight from a convolution input (implicit im2col). Pixels are decoded once per panel;
 * windows inside the image read x[corner + tap_off[tap]], border windows check each tap.
 */
typedef struct {
  long corner; /* offset of the window's top-left in x (may be outside for border windows) */
  long y0, x0; /* its row and column */
  int inside;  /* the whole window lies in the image */
} pixel_at;

/* Output pixel position, stepped through consecutive pixels without divisions. */
typedef struct {
  long n, oy, ox;
} pixel_pos;

static pixel_pos pixel_start(const im2col_view *v, long pix) {
  const long per = v->s->out_h * v->s->out_w, r = pix % per;
  return (pixel_pos){v->n0 + pix / per, r / v->s->out_w, r % v->s->out_w};
}

static inline void pixel_next(const im2col_view *v, pixel_pos *q) {
  if (++q->ox == v->s->out_w) {
    q->ox = 0;
    if (++q->oy == v->s->out_h) {
      q->oy = 0;
      q->n++;
    }
  }
}

static inline pixel_at locate(const im2col_view *v, const pixel_pos *q) {
  const conv_shape *s = v->s;
  pixel_at p;
  p.y0 = q->oy * s->stride_h - s->pad_top;
  p.x0 = q->ox * s->stride_w - s->pad_left;
  p.corner = ((q->n * s->in_h + p.y0) * s->in_w + p.x0) * s->in_c;
  p.inside = p.y0 >= 0 && p.x0 >= 0 && p.y0 + (s->filter_h - 1) * s->dilation_h < s->in_h && p.x0 + (s->filter_w - 1) * s->dilation_w < s->in_w;
  return p;
}

static inline float tap_value(const im2col_view *v, const pixel_at *p, long tap) {
  if (p->inside) return v->x[p->corner + v->tap_off[tap]];
  const long iy = p->y0 + v->tap_y[tap], ix = p->x0 + v->tap_x[tap];
  if (iy < 0 || iy >= v->s->in_h || ix < 0 || ix >= v->s->in_w) return 0.0f;
  return v->x[p->corner + v->tap_off[tap]];
}

/*
 * A width-w panel (w = MR or NR) of the im2col matrix with pixels across and taps along the depth:
 * pixels first..first+count (the rest zero), taps p0..p0+kc.
 */
static void pack_im2col(const im2col_view *v, long first, long count, long p0, long kc, long w, float *dst) {
  pixel_pos q = pixel_start(v, first);
  for (long c = 0; c < w; c++, pixel_next(v, &q)) {
    if (c >= count) {
      for (long p = 0; p < kc; p++) dst[p * w + c] = 0.0f;
      continue;
    }
    const pixel_at at = locate(v, &q);
    if (at.inside) {
      const float *base = v->x + at.corner;
      for (long p = 0; p < kc; p++) dst[p * w + c] = base[v->tap_off[p0 + p]];
    } else {
      for (long p = 0; p < kc; p++) dst[p * w + c] = tap_value(v, &at, p0 + p);
    }
  }
}

/* kc x MR panel of op(A): rows i0.. (rows valid, the rest zero), depth pc..pc+kc. */
static void pack_a(const gemm_args *g, long i0, long rows, long pc, long kc, float *dst) {
  if (g->col_a) {
    /* op(A) = col: rows are pixels, depth is taps. */
    pack_im2col(g->col_a, i0, rows, pc, kc, MR, dst);
    return;
  }
  if (!g->trans_a) {
    for (long r = 0; r < MR; r++) {
      if (r < rows) {
        const float *src = g->a + (i0 + r) * g->lda + pc;
        for (long p = 0; p < kc; p++) dst[p * MR + r] = src[p];
      } else {
        for (long p = 0; p < kc; p++) dst[p * MR + r] = 0.0f;
      }
    }
  } else {
    for (long p = 0; p < kc; p++) {
      const float *src = g->a + (pc + p) * g->lda + i0;
      long r = 0;
      for (; r < rows; r++) dst[p * MR + r] = src[r];
      for (; r < MR; r++) dst[p * MR + r] = 0.0f;
    }
  }
}

/* kc x NR panel of op(B): columns j0.. (cols valid, the rest zero), depth pc..pc+kc. */
static void pack_b(const gemm_args *g, long j0, long cols, long pc, long kc, float *dst) {
  if (g->col_b) {
    /* op(B) = colᵀ: columns are pixels, depth is taps. */
    pack_im2col(g->col_b, j0, cols, pc, kc, NR, dst);
    return;
  }
  if (!g->trans_b) {
    for (long p = 0; p < kc; p++) {
      const float *src = g->b + (pc + p) * g->ldb + j0;
      long c = 0;
      for (; c < cols; c++) dst[p * NR + c] = src[c];
      for (; c < NR; c++) dst[p * NR + c] = 0.0f;
    }
  } else {
    for (long c = 0; c < NR; c++) {
      if (c < cols) {
        const float *src = g->b + (j0 + c) * g->ldb + pc;
        for (long p = 0; p < kc; p++) dst[p * NR + c] = src[p];
      } else {
        for (long p = 0; p < kc; p++) dst[p * NR + c] = 0.0f;
      }
    }
  }
}

/* ---- register tile ------------------------------------------------------------------------- */

typedef struct {
  float *c;
  long ldc;
  int trans_c;
  long i0, j0, rows, cols; /* where the tile lands and how much of it is real */
  int load;                /* add to what C holds */
  const float *bias;       /* added on the last depth block only; NULL otherwise */
  int bias_per_row;        /* bias indexed by row (i) instead of column (j) */
  int relu;
} tile_out;

static inline __attribute__((always_inline)) v8 loadu(const float *p) {
  v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline __attribute__((always_inline)) void storeu(float *p, v8 v) { memcpy(p, &v, sizeof v); }

static inline __attribute__((always_inline)) v8 relu8(v8 x) {
  const v8 zero = {0};
  return (v8)((vi8)(x > zero) & (vi8)x);
}

#define ROW(r)                             \
  {                                        \
    const float s = ap[r];                 \
    c##r##0 += s * b0;                     \
    c##r##1 += s * b1;                     \
  }

#define FULL_ROW(r)                                                   \
  {                                                                   \
    float *row = o->c + (o->i0 + r) * o->ldc + o->j0;                 \
    v8 x0 = c##r##0, x1 = c##r##1;                                    \
    if (o->load) {                                                    \
      x0 += loadu(row);                                               \
      x1 += loadu(row + 8);                                           \
    }                                                                 \
    if (o->bias) {                                                    \
      if (o->bias_per_row) {                                          \
        x0 += o->bias[o->i0 + r];                                     \
        x1 += o->bias[o->i0 + r];                                     \
      } else {                                                        \
        x0 += loadu(o->bias + o->j0);                                 \
        x1 += loadu(o->bias + o->j0 + 8);                             \
      }                                                               \
    }                                                                 \
    if (o->relu) {                                                    \
      x0 = relu8(x0);                                                 \
      x1 = relu8(x1);                                                 \
    }                                                                 \
    storeu(row, x0);                                                  \
    storeu(row + 8, x1);                                              \
  }

static inline __attribute__((always_inline)) void micro_store(const tile_out *o, v8 c00, v8 c01, v8 c10, v8 c11, v8 c20, v8 c21, v8 c30, v8 c31,
                                                              v8 c40, v8 c41, v8 c50, v8 c51);

static inline __attribute__((always_inline)) void micro_body(long kc, const float *restrict a, const float *restrict b, const tile_out *o) {
  v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
  v8 c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
  for (long p = 0; p < kc; p++) {
    const v8 b0 = *(const v8 *)(b + p * NR);
    const v8 b1 = *(const v8 *)(b + p * NR + 8);
    const float *ap = a + p * MR;
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
  }
  micro_store(o, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
}

/* The tile's epilogue (C += or =, bias, ReLU, edges, transposed stores), shared by every kernel. */
static inline __attribute__((always_inline)) void micro_store(const tile_out *o, v8 c00, v8 c01, v8 c10, v8 c11, v8 c20, v8 c21, v8 c30, v8 c31,
                                                              v8 c40, v8 c41, v8 c50, v8 c51) {
  if (o->rows == MR && o->cols == NR && !o->trans_c) {
    FULL_ROW(0) FULL_ROW(1) FULL_ROW(2) FULL_ROW(3) FULL_ROW(4) FULL_ROW(5)
    return;
  }
  float t[MR * NR] __attribute__((aligned(32)));
  storeu(t + 0, c00); storeu(t + 8, c01); storeu(t + 16, c10); storeu(t + 24, c11);
  storeu(t + 32, c20); storeu(t + 40, c21); storeu(t + 48, c30); storeu(t + 56, c31);
  storeu(t + 64, c40); storeu(t + 72, c41); storeu(t + 80, c50); storeu(t + 88, c51);
  /* Edge tiles and transposed stores: loops with the flags hoisted out of them. */
  const long rows = o->rows, cols = o->cols, i0 = o->i0, j0 = o->j0, ldc = o->ldc;
  if (o->trans_c) {
    for (long col = 0; col < cols; col++) {
      float *dst = o->c + (j0 + col) * ldc + i0;
      for (long r = 0; r < rows; r++) {
        float v = t[r * NR + col];
        if (o->load) v += dst[r];
        if (o->bias) v += o->bias[o->bias_per_row ? i0 + r : j0 + col];
        if (o->relu) v = v > 0.0f ? v : 0.0f;
        dst[r] = v;
      }
    }
    return;
  }
  for (long r = 0; r < rows; r++) {
    float *dst = o->c + (i0 + r) * ldc + j0;
    const float *src = t + r * NR;
    for (long col = 0; col < cols; col++) {
      float v = src[col];
      if (o->load) v += dst[col];
      if (o->bias) v += o->bias[o->bias_per_row ? i0 + r : j0 + col];
      if (o->relu) v = v > 0.0f ? v : 0.0f;
      dst[col] = v;
    }
  }
}

typedef void (*micro_fn)(long, const float *, const float *, const tile_out *);

static void micro_generic(long kc, const float *a, const float *b, const tile_out *o) { micro_body(kc, a, b, o); }

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static void micro_avx2(long kc, const float *a, const float *b, const tile_out *o) {
  micro_body(kc, a, b, o);
}

/*
 * AVX-512: the same 6x16 tile, one zmm per row. Six accumulators cannot hide the FMA latency on
 * two FMA ports, so even and odd depth steps go to separate accumulators (12 chains), summed at
 * the end: the products are the same, their order of addition differs in the last bits.
 */
typedef float v16 __attribute__((vector_size(64)));

#define ROW16(r)                          \
  {                                       \
    e##r += ap[r] * b0;                   \
    f##r += ap[MR + r] * b1;              \
  }

static inline __attribute__((always_inline)) void split16(v16 x, v8 *lo, v8 *hi) {
  memcpy(lo, &x, sizeof *lo);
  memcpy(hi, (const char *)&x + sizeof *lo, sizeof *hi);
}

__attribute__((target("avx512f,avx2,fma"))) static void micro_avx512(long kc, const float *restrict a, const float *restrict b, const tile_out *o) {
  v16 e0 = {0}, e1 = {0}, e2 = {0}, e3 = {0}, e4 = {0}, e5 = {0};
  v16 f0 = {0}, f1 = {0}, f2 = {0}, f3 = {0}, f4 = {0}, f5 = {0};
  long p = 0;
  for (; p + 1 < kc; p += 2) {
    const v16 b0 = *(const v16 *)(b + p * NR);
    const v16 b1 = *(const v16 *)(b + p * NR + NR);
    const float *ap = a + p * MR;
    ROW16(0) ROW16(1) ROW16(2) ROW16(3) ROW16(4) ROW16(5)
  }
  if (p < kc) {
    const v16 b0 = *(const v16 *)(b + p * NR);
    const float *ap = a + p * MR;
    e0 += ap[0] * b0, e1 += ap[1] * b0, e2 += ap[2] * b0, e3 += ap[3] * b0, e4 += ap[4] * b0, e5 += ap[5] * b0;
  }
  v8 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  split16(e0 + f0, &c00, &c01);
  split16(e1 + f1, &c10, &c11);
  split16(e2 + f2, &c20, &c21);
  split16(e3 + f3, &c30, &c31);
  split16(e4 + f4, &c40, &c41);
  split16(e5 + f5, &c50, &c51);
  micro_store(o, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
}

/*
 * AVX-512, two adjacent 16-column panels of B against one 6-row panel of A: a 6x32 tile in 12 zmm
 * sums. Per depth step 2 loads of B and 6 broadcasts of A feed 12 FMAs, where the 6x16 tile needs
 * 7 loads for 6: on products with 32 or more columns (every conv above 16 channels, their filter
 * and input gradients) the 6x16 tile is bound by those loads, not by the FMAs.
 */
#define ROW32(r)                  \
  {                               \
    const float s = ap[r];        \
    g##r += s * b0;               \
    h##r += s * b1;               \
  }

/* A 6x16 tile's sums, row after row (16 floats each), through micro_store. */
__attribute__((target("avx2,fma"), noinline)) static void store_tile_buf(const tile_out *o, const float *t) {
  micro_store(o, loadu(t), loadu(t + 8), loadu(t + 16), loadu(t + 24), loadu(t + 32), loadu(t + 40), loadu(t + 48), loadu(t + 56), loadu(t + 64),
              loadu(t + 72), loadu(t + 80), loadu(t + 88));
}

__attribute__((target("avx512f,avx2,fma"))) static void micro2_avx512(long kc, const float *restrict a, const float *restrict b0p,
                                                                      const float *restrict b1p, const tile_out *o0, const tile_out *o1) {
  v16 g0 = {0}, g1 = {0}, g2 = {0}, g3 = {0}, g4 = {0}, g5 = {0};
  v16 h0 = {0}, h1 = {0}, h2 = {0}, h3 = {0}, h4 = {0}, h5 = {0};
  for (long p = 0; p < kc; p++) {
    const v16 b0 = *(const v16 *)(b0p + p * NR);
    const v16 b1 = *(const v16 *)(b1p + p * NR);
    const float *ap = a + p * MR;
    ROW32(0) ROW32(1) ROW32(2) ROW32(3) ROW32(4) ROW32(5)
  }
  /* Stored through a buffer by a separate function: with both epilogues inlined, GCC kept the 12 sums on the stack inside the loop. */
  v16 t[12];
  t[0] = g0, t[1] = g1, t[2] = g2, t[3] = g3, t[4] = g4, t[5] = g5;
  t[6] = h0, t[7] = h1, t[8] = h2, t[9] = h3, t[10] = h4, t[11] = h5;
  store_tile_buf(o0, (const float *)t);
  store_tile_buf(o1, (const float *)(t + 6));
}
#endif

typedef void (*micro2_fn)(long, const float *, const float *, const float *, const tile_out *, const tile_out *);

static micro_fn g_micro = 0;
static micro2_fn g_micro2 = 0; /* the 6x32 tile where the CPU has one (AVX-512), else NULL */
static const char *g_isa = "generic";
static int g_level = 0; /* 0 baseline, 1 AVX2+FMA, 2 AVX-512F (the GEMM tile and the direct convolutions in zmm) */

static micro_fn pick_micro(void) {
  if (g_micro) return g_micro;
  micro_fn f = micro_generic;
  /* TOPIARY_NATIVE_ISA=generic forces the baseline kernels (the tests run them this way too). */
  const char *forced = getenv("TOPIARY_NATIVE_ISA");
  const int generic_only = forced && strcmp(forced, "generic") == 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (!generic_only && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    f = micro_avx2;
    g_isa = "avx2+fma";
    g_level = 1;
    /* The memory-bound kernels stay AVX2; TOPIARY_NATIVE_ISA=avx2 keeps the GEMM tile and the direct convolutions AVX2 too, to compare. */
    const int avx2_only = forced && strcmp(forced, "avx2") == 0;
    if (!avx2_only && __builtin_cpu_supports("avx512f")) {
      f = micro_avx512;
      g_micro2 = micro2_avx512;
      g_isa = "avx512f+fma";
      g_level = 2;
    }
  }
#elif defined(__aarch64__)
  g_isa = "neon";
#endif
  (void)generic_only;
  g_micro = f;
  return f;
}

const char *tp_isa(void) {
  pick_micro();
  return g_isa;
}

int tp_isa_level(void) {
  pick_micro();
  return g_level;
}

/* ---- GEMM driver --------------------------------------------------------------------------- */

static long round_up(long x, long to) { return (x + to - 1) / to * to; }
static long min_l(long a, long b) { return a < b ? a : b; }

static void *alloc_floats(long n) {
  size_t bytes = (size_t)round_up(n * (long)sizeof(float), 64);
  return aligned_alloc(64, bytes > 0 ? bytes : 64);
}

/*
 * Scratch buffers, one set per calling thread, kept between calls: allocating (and page-faulting)
 * a few MiB per call cost as much as the arithmetic for LeNet-sized convolutions.
 */
enum { WS_PACK_A, WS_PACK_B, WS_COL, WS_PARTS, WS_SLOTS };
static __thread struct {
  float *p;
  long cap;
} g_ws[WS_SLOTS];

static float *workspace(int slot, long n) {
  if (g_ws[slot].cap < n) {
    free(g_ws[slot].p);
    g_ws[slot].p = alloc_floats(n);
    if (!g_ws[slot].p) abort();
    g_ws[slot].cap = n;
  }
  return g_ws[slot].p;
}

void tp_release_workspace(void) {
  for (int i = 0; i < WS_SLOTS; i++) {
    free(g_ws[i].p);
    g_ws[i].p = 0;
    g_ws[i].cap = 0;
  }
}

/* C = op(A)·op(B) with the tile grid shared among `threads` threads. */
static void gemm_blocked(const gemm_args *g, int bias_per_row, int threads) {
  const micro_fn micro = pick_micro();
  const micro2_fn micro2 = g_micro2;
  const long M = g->m, N = g->n, K = g->k;
  float *bp = workspace(WS_PACK_B, round_up(min_l(N, NC), NR) * KC);
  float *ap = workspace(WS_PACK_A, round_up(min_l(M, MC), MR) * KC);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    for (long jc = 0; jc < N; jc += NC) {
      const long nc = min_l(NC, N - jc);
      const long npan = (nc + NR - 1) / NR;
      for (long pc = 0; pc < K; pc += KC) {
        const long kc = min_l(KC, K - pc);
        const int last = pc + kc >= K;
#pragma omp for schedule(static)
        for (long jp = 0; jp < npan; jp++) pack_b(g, jc + jp * NR, min_l(NR, nc - jp * NR), pc, kc, bp + jp * kc * NR);
        for (long ic = 0; ic < M; ic += MC) {
          const long mc = min_l(MC, M - ic);
          const long mpan = (mc + MR - 1) / MR;
#pragma omp for schedule(static)
          for (long ip = 0; ip < mpan; ip++) pack_a(g, ic + ip * MR, min_l(MR, mc - ip * MR), pc, kc, ap + ip * kc * MR);
#define TILE_AT(ip, jp)                                                                    \
  {                                                                                        \
    g->c, g->ldc, g->trans_c,                                                              \
    ic + (ip) * MR, jc + (jp) * NR, min_l(MR, mc - (ip) * MR), min_l(NR, nc - (jp) * NR), \
    pc > 0 || g->accumulate,                                                               \
    last ? g->bias : 0, bias_per_row,                                                      \
    last && g->relu,                                                                       \
  }
          if (micro2 && npan > 1) {
            /* Pairs of B panels (the last one alone when their count is odd). */
            const long npair = (npan + 1) / 2;
#pragma omp for collapse(2) schedule(static)
            for (long jq = 0; jq < npair; jq++) {
              for (long ip = 0; ip < mpan; ip++) {
                const long jp = 2 * jq;
                const tile_out o = TILE_AT(ip, jp);
                if (jp + 1 < npan) {
                  const tile_out o1 = TILE_AT(ip, jp + 1);
                  micro2(kc, ap + ip * kc * MR, bp + jp * kc * NR, bp + (jp + 1) * kc * NR, &o, &o1);
                } else {
                  micro(kc, ap + ip * kc * MR, bp + jp * kc * NR, &o);
                }
              }
            }
          } else {
#pragma omp for collapse(2) schedule(static)
            for (long jp = 0; jp < npan; jp++) {
              for (long ip = 0; ip < mpan; ip++) {
                const tile_out o = TILE_AT(ip, jp);
                micro(kc, ap + ip * kc * MR, bp + jp * kc * NR, &o);
              }
            }
          }
#undef TILE_AT
        }
      }
    }
  }
}

/*
 * Few tiles but a long depth (a filter gradient: a small dW summed over every output pixel):
 * each thread multiplies its own slice of the depth into a private buffer, then they are summed.
 */
static void gemm_split_depth(const gemm_args *g, int threads) {
  const long M = g->m, N = g->n, K = g->k;
  float *parts = workspace(WS_PARTS, threads * M * N);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; t++) {
    const long k0 = K * t / threads, k1 = K * (t + 1) / threads;
    gemm_args s = *g;
    s.k = k1 - k0;
    s.a = g->trans_a ? g->a + k0 * g->lda : g->a + k0;
    s.b = g->trans_b ? g->b + k0 : g->b + k0 * g->ldb;
    s.c = parts + t * M * N;
    s.ldc = N;
    s.trans_c = 0;
    s.accumulate = 0;
    s.bias = 0;
    s.relu = 0;
    if (s.k > 0) gemm_blocked(&s, 0, 1);
    else memset(s.c, 0, sizeof(float) * M * N);
  }
  for (long i = 0; i < M; i++) {
    for (long j = 0; j < N; j++) {
      float v = 0.0f;
      for (int t = 0; t < threads; t++) v += parts[t * M * N + i * N + j];
      float *dst = g->trans_c ? g->c + j * g->ldc + i : g->c + i * g->ldc + j;
      *dst = g->accumulate ? *dst + v : v;
    }
  }
}

void tp_gemm(const gemm_args *in) {
  /* An im2col operand is packed pixels-across only (see gemm_args): anything else is a caller bug. */
  if ((in->col_a && in->trans_a) || (in->col_b && !in->trans_b)) abort();
  gemm_args g = *in;
  int bias_per_row = 0;
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {
    for (long i = 0; i < g.m; i++) {
      for (long j = 0; j < g.n; j++) {
        float *dst = g.trans_c ? g.c + j * g.ldc + i : g.c + i * g.ldc + j;
        float v = g.accumulate ? *dst : 0.0f;
        if (g.bias) v += g.bias[j];
        if (g.relu && v < 0.0f) v = 0.0f;
        *dst = v;
      }
    }
    return;
  }
  /* A narrow result (fewer columns than a tile) wastes most of every tile: compute Cᵀ = op(B)ᵀ·op(A)ᵀ. */
  if (g.n < NR && g.m > g.n) {
    gemm_args s = g;
    s.m = g.n;
    s.n = g.m;
    s.a = g.b;
    s.lda = g.ldb;
    s.trans_a = !g.trans_b;
    s.b = g.a;
    s.ldb = g.lda;
    s.trans_b = !g.trans_a;
    s.trans_c = !g.trans_c;
    s.col_a = g.col_b;
    s.col_b = g.col_a;
    g = s;
    bias_per_row = 1;
  }
  const double macs = (double)g.m * (double)g.n * (double)g.k;
  int threads = macs >= (double)PARALLEL_MIN_MACS && !g.serial ? tp_threads() : 1;
#ifdef _OPENMP
  if (omp_in_parallel()) threads = 1;
#endif
  const long tiles = ((g.m + MR - 1) / MR) * ((g.n + NR - 1) / NR);
  if (threads > 1 && (tiles < threads * 2 || g.m * g.n * 4 <= g.k) && g.k >= 4 * KC && !g.bias && !g.relu && !g.col_a && !g.col_b) {
    gemm_split_depth(&g, threads);
    return;
  }
  gemm_blocked(&g, bias_per_row, threads);
}

/* ---- convolutions (NHWC, filter [kh, kw, Ci, Co]) -------------------------------------------- */
/*
 * Each convolution runs as chunks of images spread over the threads, and no thread waits for
 * another until the end. The forward pass never builds the im2col matrix: the GEMM packs its
 * panels straight from the input (implicit im2col). The gradients work through columns in a small
 * per-thread buffer that stays in cache: the filter gradient builds them (im2col), the input
 * gradient scatters them back (col2im).
 */

static long conv_depth(const conv_shape *s) { return s->filter_h * s->filter_w * s->in_c; }

/* Images per chunk: a column buffer of about CHUNK_FLOATS floats (at least one image). */
#define CHUNK_FLOATS (1L << 16)
static long conv_chunk(const conv_shape *s) {
  const long per = s->out_h * s->out_w * conv_depth(s);
  long n = per > 0 ? CHUNK_FLOATS / per : s->batch;
  if (n > s->batch) n = s->batch;
  return n < 1 ? 1 : n;
}

/* Threads for `work` multiply-adds over `chunks` chunks; 1 inside another parallel region. */
static int conv_threads(double work, long chunks) {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
#endif
  int t = work >= (double)PARALLEL_MIN_MACS ? tp_threads() : 1;
  return chunks < t ? (int)chunks : t;
}

/*
 * im2col of a single-channel input (a grayscale first layer): per output row and filter tap, one
 * strided pass over the output columns, with the padded columns worked out once per tap.
 */
static void im2col_one_channel(const conv_shape *s, const float *x, long n0, long images, float *col) {
  const long K = s->filter_h * s->filter_w, ow = s->out_w;
  for (long q = 0; q < images * s->out_h; q++) {
    const long n = n0 + q / s->out_h, oy = q % s->out_h;
    float *base = col + q * ow * K;
    for (long ky = 0; ky < s->filter_h; ky++) {
      const long iy = oy * s->stride_h - s->pad_top + ky * s->dilation_h;
      const float *row = iy >= 0 && iy < s->in_h ? x + (n * s->in_h + iy) * s->in_w : 0;
      for (long kx = 0; kx < s->filter_w; kx++) {
        float *d = base + ky * s->filter_w + kx;
        const long shift = kx * s->dilation_w - s->pad_left;
        /* Output columns whose input column ox * stride + shift lies inside the row. */
        long lo = shift >= 0 ? 0 : (-shift + s->stride_w - 1) / s->stride_w;
        long hi = s->in_w - shift <= 0 ? 0 : (s->in_w - shift + s->stride_w - 1) / s->stride_w;
        if (hi > ow) hi = ow;
        if (lo > hi) lo = hi;
        if (!row) {
          for (long ox = 0; ox < ow; ox++) d[ox * K] = 0.0f;
          continue;
        }
        for (long ox = 0; ox < lo; ox++) d[ox * K] = 0.0f;
        const float *src = row + shift;
        if (s->stride_w == 1)
          for (long ox = lo; ox < hi; ox++) d[ox * K] = src[ox];
        else
          for (long ox = lo; ox < hi; ox++) d[ox * K] = src[ox * s->stride_w];
        for (long ox = hi; ox < ow; ox++) d[ox * K] = 0.0f;
      }
    }
  }
}

static void im2col(const conv_shape *s, const float *x, long n0, long images, float *col) {
  const long K = conv_depth(s), ci = s->in_c;
  const long rows = images * s->out_h;
  if (ci == 1) {
    im2col_one_channel(s, x, n0, images, col);
    return;
  }
  for (long q = 0; q < rows; q++) {
    const long n = n0 + q / s->out_h, oy = q % s->out_h;
    for (long ox = 0; ox < s->out_w; ox++) {
      float *dst = col + (q * s->out_w + ox) * K;
      const long ix0 = ox * s->stride_w - s->pad_left;
      /* With unit dilation and the window inside the row, a filter row is one contiguous run. */
      const int row_inside = s->dilation_w == 1 && ix0 >= 0 && ix0 + s->filter_w <= s->in_w;
      for (long ky = 0; ky < s->filter_h; ky++) {
        const long iy = oy * s->stride_h - s->pad_top + ky * s->dilation_h;
        float *d = dst + ky * s->filter_w * ci;
        if (iy < 0 || iy >= s->in_h) {
          for (long t = 0; t < s->filter_w * ci; t++) d[t] = 0.0f;
          continue;
        }
        const float *row = x + (n * s->in_h + iy) * s->in_w * ci;
        if (row_inside) {
          const float *src = row + ix0 * ci;
          for (long t = 0; t < s->filter_w * ci; t++) d[t] = src[t];
          continue;
        }
        for (long kx = 0; kx < s->filter_w; kx++, d += ci) {
          const long ix = ix0 + kx * s->dilation_w;
          if (ix < 0 || ix >= s->in_w) {
            for (long c = 0; c < ci; c++) d[c] = 0.0f;
          } else {
            const float *src = row + ix * ci;
            for (long c = 0; c < ci; c++) d[c] = src[c];
          }
        }
      }
    }
  }
}

/* dx for images n0..n0+images (overwritten) = the columns scattered back to their pixels. */
static void col2im(const conv_shape *s, const float *col, long n0, long images, float *dx) {
  const long K = conv_depth(s), ci = s->in_c;
  const long plane = s->in_h * s->in_w * ci;
  memset(dx + n0 * plane, 0, sizeof(float) * plane * images);
  for (long m = 0; m < images; m++) {
    float *img = dx + (n0 + m) * plane;
    for (long oy = 0; oy < s->out_h; oy++) {
      for (long ox = 0; ox < s->out_w; ox++) {
        const float *src = col + ((m * s->out_h + oy) * s->out_w + ox) * K;
        for (long ky = 0; ky < s->filter_h; ky++) {
          const long iy = oy * s->stride_h - s->pad_top + ky * s->dilation_h;
          if (iy < 0 || iy >= s->in_h) continue;
          for (long kx = 0; kx < s->filter_w; kx++) {
            const long ix = ox * s->stride_w - s->pad_left + kx * s->dilation_w;
            if (ix < 0 || ix >= s->in_w) continue;
            float *d = img + (iy * s->in_w + ix) * ci;
            const float *v = src + (ky * s->filter_w + kx) * ci;
            for (long c = 0; c < ci; c++) d[c] += v[c];
          }
        }
      }
    }
  }
}

/* Per filter tap (ky, kx, ci): its offset from the window's corner in x, and its row and column. */
typedef struct {
  long *off, *y, *x;
} taps;

static taps make_taps(const conv_shape *s) {
  const long K = conv_depth(s);
  taps t = {malloc(sizeof(long) * K), malloc(sizeof(long) * K), malloc(sizeof(long) * K)};
  if (!t.off || !t.y || !t.x) abort();
  long i = 0;
  for (long ky = 0; ky < s->filter_h; ky++)
    for (long kx = 0; kx < s->filter_w; kx++)
      for (long ci = 0; ci < s->in_c; ci++, i++) {
        t.y[i] = ky * s->dilation_h;
        t.x[i] = kx * s->dilation_w;
        t.off[i] = (t.y[i] * s->in_w + t.x[i]) * s->in_c + ci;
      }
  return t;
}

static void free_taps(taps t) {
  free(t.off);
  free(t.y);
  free(t.x);
}

/* Images per chunk when the chunks only split the work among threads (no buffer to bound). */
static long split_chunk(const conv_shape *s) {
  const long parts = 2L * tp_threads();
  long n = (s->batch + parts - 1) / parts;
  return n < 1 ? 1 : n;
}

/* ---- direct convolution for few output channels ------------------------------------------- */
/*
 * With at most 16 output channels (LeNet's 6 and 16, a stem conv) the GEMM spends more time
 * packing than multiplying: every input value is gathered into a panel that <= 16 columns then
 * read once. Here each input value is broadcast straight from x against the filter row of its tap
 * (padded to 8 or 16 columns): per pixel and tap one load and one or two FMAs, no im2col, no
 * packing. Windows inside the image read x[corner + tap_off]; border windows check each tap.
 * Measured on LeNet-5 (test/bench/native-kernels.ts): see test/bench/README.md, session 6.
 */
#define DIRECT_MAX_CO 16
#define DIRECT_PIX 4 /* output pixels of a row computed together in the forward pass */
#define DIRECT_TAPS 6 /* filter taps whose gradient rows stay in registers together */

static int g_direct = -1;
/* TOPIARY_TRANSPOSED_GRAD=0 keeps stride-1 input gradients on GEMM + col2im, to compare. */
static int g_transposed_grad = -1;

/* Whether a convolution takes the direct path (TOPIARY_DIRECT_CONV=0 keeps the GEMM one, to compare). */
static int direct_conv(const conv_shape *s) {
  if (g_direct < 0) {
    const char *e = getenv("TOPIARY_DIRECT_CONV");
    g_direct = !(e && (strcmp(e, "0") == 0 || strcmp(e, "off") == 0));
  }
  return g_direct && s->out_c <= DIRECT_MAX_CO && s->out_c > 0;
}

/* The filter (K x Co) as K rows of 16 floats, zero beyond Co; the bias the same way. */
static float *direct_pad_filter(const conv_shape *s, const float *w, long rows) {
  const long K = conv_depth(s), co = s->out_c;
  float *wp = alloc_floats(rows * DIRECT_MAX_CO);
  if (!wp) abort();
  memset(wp, 0, sizeof(float) * rows * DIRECT_MAX_CO);
  if (w)
    for (long k = 0; k < K; k++) memcpy(wp + k * DIRECT_MAX_CO, w + k * co, sizeof(float) * co);
  return wp;
}

static inline __attribute__((always_inline)) int window_rows_inside(const conv_shape *s, long iy0) {
  return iy0 >= 0 && iy0 + (s->filter_h - 1) * s->dilation_h < s->in_h;
}

static inline __attribute__((always_inline)) int window_cols_inside(const conv_shape *s, long ix0) {
  return ix0 >= 0 && ix0 + (s->filter_w - 1) * s->dilation_w < s->in_w;
}

static inline __attribute__((always_inline)) void store_co(float *dst, v8 lo, v8 hi, long co, const float *bias, int relu) {
  lo += loadu(bias);
  hi += loadu(bias + 8);
  if (relu) {
    lo = relu8(lo);
    hi = relu8(hi);
  }
  if (co == 16) {
    storeu(dst, lo);
    storeu(dst + 8, hi);
  } else if (co == 8) {
    storeu(dst, lo);
  } else {
    float t[16] __attribute__((aligned(32)));
    storeu(t, lo);
    storeu(t + 8, hi);
    memcpy(dst, t, sizeof(float) * co);
  }
}

/* y for images n0..n0+images; wp and bp padded (direct_pad_filter); `two`: Co > 8. */
static inline __attribute__((always_inline)) void direct_forward_body(const conv_shape *s, const taps *t, const float *x, const float *wp,
                                                                      const float *bp, int relu, long n0, long images, float *y, const int two) {
  const long K = conv_depth(s), co = s->out_c, ci = s->in_c, step = s->stride_w * ci;
  for (long n = n0; n < n0 + images; n++) {
    for (long oy = 0; oy < s->out_h; oy++) {
      const long iy0 = oy * s->stride_h - s->pad_top;
      const int rows_in = window_rows_inside(s, iy0);
      float *yrow = y + (n * s->out_h + oy) * s->out_w * co;
      long ox = 0;
      while (ox < s->out_w) {
        const long ix0 = ox * s->stride_w - s->pad_left;
        const float *corner = x + ((n * s->in_h + iy0) * s->in_w + ix0) * ci;
        if (rows_in && ox + DIRECT_PIX <= s->out_w && window_cols_inside(s, ix0) && window_cols_inside(s, ix0 + (DIRECT_PIX - 1) * s->stride_w)) {
          v8 a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
          for (long k = 0; k < K; k++) {
            const float *xp = corner + t->off[k];
            const v8 w0 = *(const v8 *)(wp + k * DIRECT_MAX_CO);
            const float x0 = xp[0], x1 = xp[step], x2 = xp[2 * step], x3 = xp[3 * step];
            a00 += x0 * w0;
            a10 += x1 * w0;
            a20 += x2 * w0;
            a30 += x3 * w0;
            if (two) {
              const v8 w1 = *(const v8 *)(wp + k * DIRECT_MAX_CO + 8);
              a01 += x0 * w1;
              a11 += x1 * w1;
              a21 += x2 * w1;
              a31 += x3 * w1;
            }
          }
          float *dst = yrow + ox * co;
          store_co(dst, a00, a01, co, bp, relu);
          store_co(dst + co, a10, a11, co, bp, relu);
          store_co(dst + 2 * co, a20, a21, co, bp, relu);
          store_co(dst + 3 * co, a30, a31, co, bp, relu);
          ox += DIRECT_PIX;
          continue;
        }
        /* One pixel, each tap checked against the image. */
        v8 a0 = {0}, a1 = {0};
        for (long k = 0; k < K; k++) {
          const long iy = iy0 + t->y[k], ix = ix0 + t->x[k];
          if (iy < 0 || iy >= s->in_h || ix < 0 || ix >= s->in_w) continue;
          const float xv = corner[t->off[k]];
          a0 += xv * *(const v8 *)(wp + k * DIRECT_MAX_CO);
          if (two) a1 += xv * *(const v8 *)(wp + k * DIRECT_MAX_CO + 8);
        }
        store_co(yrow + ox * co, a0, a1, co, bp, relu);
        ox++;
      }
    }
  }
}

/*
 * dwp (K' x 16, K' = K rounded up to DIRECT_TAPS; padded taps are offset 0 and their rows are
 * discarded) += the filter gradient of images n0..n0+images. One output row at a time: its dy is
 * copied padded to 16 columns, then per block of DIRECT_TAPS taps the gradient rows stay in
 * registers over the row's pixels.
 */
static inline __attribute__((always_inline)) void direct_filter_body(const conv_shape *s, const taps *t, long kpad, const float *x, const float *dy,
                                                                     long n0, long images, float *dyrow, float *dwp, const int two) {
  const long co = s->out_c, ci = s->in_c, ow = s->out_w;
  for (long n = n0; n < n0 + images; n++) {
    for (long oy = 0; oy < s->out_h; oy++) {
      const long iy0 = oy * s->stride_h - s->pad_top;
      const int rows_in = window_rows_inside(s, iy0);
      const float *src = dy + (n * s->out_h + oy) * ow * co;
      for (long ox = 0; ox < ow; ox++) memcpy(dyrow + ox * DIRECT_MAX_CO, src + ox * co, sizeof(float) * co);
      const float *row_corner = x + ((n * s->in_h + iy0) * s->in_w - s->pad_left) * ci;
      for (long kb = 0; kb < kpad; kb += DIRECT_TAPS) {
        float *g = dwp + kb * DIRECT_MAX_CO;
        /* A row's sum starts from zero and is added once: the total is a sum of row sums (as exact as the GEMM's blocks). */
        v8 g00 = {0}, g10 = {0}, g20 = {0}, g30 = {0}, g40 = {0}, g50 = {0};
        v8 g01 = {0}, g11 = {0}, g21 = {0}, g31 = {0}, g41 = {0}, g51 = {0};
        const long *off = t->off + kb;
        for (long ox = 0; ox < ow; ox++) {
          const long ix0 = ox * s->stride_w - s->pad_left;
          const float *corner = row_corner + ox * s->stride_w * ci;
          const v8 d0 = *(const v8 *)(dyrow + ox * DIRECT_MAX_CO);
          const v8 d1 = *(const v8 *)(dyrow + ox * DIRECT_MAX_CO + 8);
          float xv[DIRECT_TAPS];
          if (rows_in && window_cols_inside(s, ix0)) {
            for (int j = 0; j < DIRECT_TAPS; j++) xv[j] = corner[off[j]];
          } else {
            for (int j = 0; j < DIRECT_TAPS; j++) {
              const long iy = iy0 + t->y[kb + j], ix = ix0 + t->x[kb + j];
              xv[j] = iy < 0 || iy >= s->in_h || ix < 0 || ix >= s->in_w ? 0.0f : corner[off[j]];
            }
          }
          g00 += xv[0] * d0;
          g10 += xv[1] * d0;
          g20 += xv[2] * d0;
          g30 += xv[3] * d0;
          g40 += xv[4] * d0;
          g50 += xv[5] * d0;
          if (two) {
            g01 += xv[0] * d1;
            g11 += xv[1] * d1;
            g21 += xv[2] * d1;
            g31 += xv[3] * d1;
            g41 += xv[4] * d1;
            g51 += xv[5] * d1;
          }
        }
        *(v8 *)(g + 0) += g00, *(v8 *)(g + 16) += g10, *(v8 *)(g + 32) += g20, *(v8 *)(g + 48) += g30, *(v8 *)(g + 64) += g40, *(v8 *)(g + 80) += g50;
        if (two) *(v8 *)(g + 8) += g01, *(v8 *)(g + 24) += g11, *(v8 *)(g + 40) += g21, *(v8 *)(g + 56) += g31, *(v8 *)(g + 72) += g41, *(v8 *)(g + 88) += g51;
      }
    }
  }
}

#if defined(__x86_64__) || defined(__i386__)
/*
 * The filter gradient in zmm for 9-16 output channels, where the CPU has AVX-512F: a pixel's 16
 * dy values are one register, and DIRECT_TAPS16 taps' gradient rows stay in registers (16 sums in
 * flight for two FMA ports with a 4-cycle latency); a block of taps along one filter row is
 * consecutive in x, read from one pointer. Measured 1.3-1.5x the AVX2 kernel on ResNet-8's
 * 16-channel 3x3 layers (test/bench/README.md). The forward pass stays AVX2: with 16 output
 * channels both are bound by the one broadcast each FMA needs, and a zmm version measured the same.
 */
#define DIRECT_TAPS16 16

#define ZMM __attribute__((target("avx512f,avx2,fma")))

/*
 * Forward convolution without the GEMM for 17-64 output channels (AVX-512): the GEMM's implicit
 * im2col gathers every input value into a 6-pixel panel that only 2-4 vectors of columns then
 * read, and on ResNet-8's 32- and 64-channel layers that gather cost about as much as the FMAs.
 * Here a tap's filter row (NV = 2-4 zmm of output channels, padded to 16 each) is loaded once and
 * each pixel's input value is broadcast straight from x against it: NV FMAs per broadcast, P
 * pixels of a row at a time (P * NV <= 24 sums in registers), no packing.
 */
#define WIDE_MAX_CO 64

static inline __attribute__((always_inline)) ZMM void wide_store(float *dst, v16 a, long count, const float *bias, int relu) {
  v16 b;
  memcpy(&b, bias, sizeof b);
  a += b;
  if (relu) {
    typedef int vi16 __attribute__((vector_size(64)));
    const v16 zero = {0};
    a = (v16)((vi16)(a > zero) & (vi16)a);
  }
  if (count >= 16) {
    memcpy(dst, &a, sizeof a);
  } else {
    float t[16] __attribute__((aligned(64)));
    memcpy(t, &a, sizeof a);
    memcpy(dst, t, sizeof(float) * count);
  }
}

/* P pixels (P * NV <= 24) of a row whose windows lie inside the image; `inside` 0: one pixel, each tap checked. */
static inline __attribute__((always_inline)) ZMM void wide_pixels(const int NV, const int P, const int inside, const conv_shape *s, const taps *t,
                                                                  const float *corner, long iy0, long ix0, const float *wp, const float *bp, int relu,
                                                                  float *dst) {
  const long K = conv_depth(s), co = s->out_c, step = s->stride_w * s->in_c;
  v16 acc[24];
  _Pragma("GCC unroll 24") for (int i = 0; i < P * NV; i++) acc[i] = (v16){0};
  for (long k = 0; k < K; k++) {
    if (!inside) {
      const long iy = iy0 + t->y[k], ix = ix0 + t->x[k];
      if (iy < 0 || iy >= s->in_h || ix < 0 || ix >= s->in_w) continue;
    }
    const float *xp = corner + t->off[k];
    const float *wr = wp + k * NV * 16;
    v16 w[4];
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) w[v] = *(const v16 *)(wr + 16 * v);
    _Pragma("GCC unroll 8") for (int p = 0; p < P; p++) {
      const float xv = xp[p * step];
      _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[p * NV + v] += xv * w[v];
    }
  }
  _Pragma("GCC unroll 8") for (int p = 0; p < P; p++) {
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) wide_store(dst + p * co + 16 * v, acc[p * NV + v], co - 16 * v, bp + 16 * v, relu);
  }
}

static inline __attribute__((always_inline)) ZMM void wide_forward_body(const int NV, const int P, const conv_shape *s, const taps *t, const float *x,
                                                                        const float *wp, const float *bp, int relu, long n0, long images, float *y) {
  const long co = s->out_c, ci = s->in_c;
  for (long n = n0; n < n0 + images; n++) {
    for (long oy = 0; oy < s->out_h; oy++) {
      const long iy0 = oy * s->stride_h - s->pad_top;
      const int rows_in = window_rows_inside(s, iy0);
      float *yrow = y + (n * s->out_h + oy) * s->out_w * co;
      long ox = 0;
      while (ox < s->out_w) {
        const long ix0 = ox * s->stride_w - s->pad_left;
        const float *corner = x + ((n * s->in_h + iy0) * s->in_w + ix0) * ci;
        const int in = rows_in && window_cols_inside(s, ix0);
        if (in && ox + P <= s->out_w && window_cols_inside(s, ix0 + (P - 1) * s->stride_w)) {
          wide_pixels(NV, P, 1, s, t, corner, iy0, ix0, wp, bp, relu, yrow + ox * co);
          ox += P;
        } else if (in && ox + 2 <= s->out_w && window_cols_inside(s, ix0 + s->stride_w)) {
          wide_pixels(NV, 2, 1, s, t, corner, iy0, ix0, wp, bp, relu, yrow + ox * co);
          ox += 2;
        } else {
          wide_pixels(NV, 1, in, s, t, corner, iy0, ix0, wp, bp, relu, yrow + ox * co);
          ox++;
        }
      }
    }
  }
}

static ZMM void wide_forward_2(const conv_shape *s, const taps *t, const float *x, const float *wp, const float *bp, int relu, long n0, long images,
                               float *y) {
  wide_forward_body(2, 8, s, t, x, wp, bp, relu, n0, images, y);
}
static ZMM void wide_forward_3(const conv_shape *s, const taps *t, const float *x, const float *wp, const float *bp, int relu, long n0, long images,
                               float *y) {
  wide_forward_body(3, 6, s, t, x, wp, bp, relu, n0, images, y);
}
static ZMM void wide_forward_4(const conv_shape *s, const taps *t, const float *x, const float *wp, const float *bp, int relu, long n0, long images,
                               float *y) {
  wide_forward_body(4, 6, s, t, x, wp, bp, relu, n0, images, y);
}

/*
 * The filter gradient the same way for 17-64 output channels: per pixel its dy row is NV zmm, and
 * T taps' gradient rows (T * NV = 24 sums) stay in registers over a row of pixels, each input
 * value broadcast against the NV vectors; no im2col buffer, no GEMM packing. dwp is kpad rows of
 * NV * 16 floats (kpad: K rounded up to T), dyimg an image of dy padded the same way.
 */
static inline __attribute__((always_inline)) ZMM void wide_filter_body(const int NV, const int T, const conv_shape *s, const taps *t, long kpad,
                                                                       const float *x, const float *dy, long n0, long images, float *dyimg, float *dwp) {
  const long co = s->out_c, ci = s->in_c, ow = s->out_w, W = NV * 16, pix = s->out_h * ow;
  for (long n = n0; n < n0 + images; n++) {
    /* The image's dy padded to W columns; the sums then run over all of its pixels before they are flushed (rows can be 8 pixels short). */
    const float *src = dy + n * pix * co;
    for (long q = 0; q < pix; q++) memcpy(dyimg + q * W, src + q * co, sizeof(float) * co);
    for (long kb = 0; kb < kpad; kb += T) {
      v16 g[24];
      _Pragma("GCC unroll 24") for (int i = 0; i < T * NV; i++) g[i] = (v16){0};
      const long *off = t->off + kb;
      int run = 1;
      for (int j = 1; j < T; j++) run &= off[j] == off[0] + j;
      for (long oy = 0; oy < s->out_h; oy++) {
        const long iy0 = oy * s->stride_h - s->pad_top;
        const int rows_in = window_rows_inside(s, iy0);
        const float *row_corner = x + ((n * s->in_h + iy0) * s->in_w - s->pad_left) * ci;
        const float *drow = dyimg + oy * ow * W;
        for (long ox = 0; ox < ow; ox++) {
          const long ix0 = ox * s->stride_w - s->pad_left;
          const float *corner = row_corner + ox * s->stride_w * ci;
          v16 d[4];
          _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) d[v] = *(const v16 *)(drow + ox * W + 16 * v);
          const int in = rows_in && window_cols_inside(s, ix0);
          if (in && run) {
            const float *xp = corner + off[0];
            _Pragma("GCC unroll 12") for (int j = 0; j < T; j++) {
              const float xv = xp[j];
              _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) g[j * NV + v] += xv * d[v];
            }
          } else {
            _Pragma("GCC unroll 12") for (int j = 0; j < T; j++) {
              const long iy = iy0 + t->y[kb + j], ix = ix0 + t->x[kb + j];
              const float xv = in || !(iy < 0 || iy >= s->in_h || ix < 0 || ix >= s->in_w) ? corner[off[j]] : 0.0f;
              _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) g[j * NV + v] += xv * d[v];
            }
          }
        }
      }
      float *gp = dwp + kb * W;
      _Pragma("GCC unroll 12") for (int j = 0; j < T; j++) {
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) *(v16 *)(gp + j * W + 16 * v) += g[j * NV + v];
      }
    }
  }
}

#define WIDE_TAPS(nv) ((nv) == 2 ? 12 : (nv) == 3 ? 8 : 6)

static ZMM void wide_filter_2(const conv_shape *s, const taps *t, long kpad, const float *x, const float *dy, long n0, long images, float *dyrow,
                              float *dwp) {
  wide_filter_body(2, WIDE_TAPS(2), s, t, kpad, x, dy, n0, images, dyrow, dwp);
}
static ZMM void wide_filter_3(const conv_shape *s, const taps *t, long kpad, const float *x, const float *dy, long n0, long images, float *dyrow,
                              float *dwp) {
  wide_filter_body(3, WIDE_TAPS(3), s, t, kpad, x, dy, n0, images, dyrow, dwp);
}
static ZMM void wide_filter_4(const conv_shape *s, const taps *t, long kpad, const float *x, const float *dy, long n0, long images, float *dyrow,
                              float *dwp) {
  wide_filter_body(4, WIDE_TAPS(4), s, t, kpad, x, dy, n0, images, dyrow, dwp);
}

/* direct_filter_body in zmm: kpad is K rounded up to DIRECT_TAPS16. */
static ZMM void direct_filter_avx512(const conv_shape *s, const taps *t, long kpad, const float *x, const float *dy, long n0, long images,
                                     float *dyrow, float *dwp) {
  const long co = s->out_c, ci = s->in_c, ow = s->out_w;
  for (long n = n0; n < n0 + images; n++) {
    for (long oy = 0; oy < s->out_h; oy++) {
      const long iy0 = oy * s->stride_h - s->pad_top;
      const int rows_in = window_rows_inside(s, iy0);
      const float *src = dy + (n * s->out_h + oy) * ow * co;
      for (long ox = 0; ox < ow; ox++) memcpy(dyrow + ox * DIRECT_MAX_CO, src + ox * co, sizeof(float) * co);
      const float *row_corner = x + ((n * s->in_h + iy0) * s->in_w - s->pad_left) * ci;
      for (long kb = 0; kb < kpad; kb += DIRECT_TAPS16) {
        v16 g[DIRECT_TAPS16];
        _Pragma("GCC unroll 16")
        for (int j = 0; j < DIRECT_TAPS16; j++) g[j] = (v16){0};
        const long *off = t->off + kb;
        /* Taps along one filter row are consecutive in x: a block of them is read from one base pointer. */
        int run = 1;
        for (int j = 1; j < DIRECT_TAPS16; j++) run &= off[j] == off[0] + j;
        for (long ox = 0; ox < ow; ox++) {
          const long ix0 = ox * s->stride_w - s->pad_left;
          const float *corner = row_corner + ox * s->stride_w * ci;
          const v16 d = *(const v16 *)(dyrow + ox * DIRECT_MAX_CO);
          if (rows_in && window_cols_inside(s, ix0)) {
            if (run) {
              const float *xp = corner + off[0];
              _Pragma("GCC unroll 16")
              for (int j = 0; j < DIRECT_TAPS16; j++) g[j] += xp[j] * d;
            } else {
              _Pragma("GCC unroll 16")
              for (int j = 0; j < DIRECT_TAPS16; j++) g[j] += corner[off[j]] * d;
            }
          } else {
            _Pragma("GCC unroll 16")
            for (int j = 0; j < DIRECT_TAPS16; j++) {
              const long iy = iy0 + t->y[kb + j], ix = ix0 + t->x[kb + j];
              const float xv = iy < 0 || iy >= s->in_h || ix < 0 || ix >= s->in_w ? 0.0f : corner[off[j]];
              g[j] += xv * d;
            }
          }
        }
        float *gp = dwp + kb * DIRECT_MAX_CO;
        _Pragma("GCC unroll 16")
        for (int j = 0; j < DIRECT_TAPS16; j++) *(v16 *)(gp + j * DIRECT_MAX_CO) += g[j];
      }
    }
  }
}
#endif

typedef void (*direct_forward_fn)(const conv_shape *, const taps *, const float *, const float *, const float *, int, long, long, float *);
typedef void (*direct_filter_fn)(const conv_shape *, const taps *, long, const float *, const float *, long, long, float *, float *);

#define DIRECT_VARIANTS(suffix, attr)                                                                                                        \
  attr static void direct_forward_##suffix(const conv_shape *s, const taps *t, const float *x, const float *wp, const float *bp, int relu, \
                                           long n0, long images, float *y) {                                                             \
    if (s->out_c > 8) direct_forward_body(s, t, x, wp, bp, relu, n0, images, y, 1);                                                    \
    else direct_forward_body(s, t, x, wp, bp, relu, n0, images, y, 0);                                                                   \
  }                                                                                                                                      \
  attr static void direct_filter_##suffix(const conv_shape *s, const taps *t, long kpad, const float *x, const float *dy, long n0,       \
                                          long images, float *dyrow, float *dwp) {                                                       \
    if (s->out_c > 8) direct_filter_body(s, t, kpad, x, dy, n0, images, dyrow, dwp, 1);                                                \
    else direct_filter_body(s, t, kpad, x, dy, n0, images, dyrow, dwp, 0);                                                               \
  }

DIRECT_VARIANTS(generic, )
#if defined(__x86_64__) || defined(__i386__)
DIRECT_VARIANTS(avx2, __attribute__((target("avx2,fma"))))
#endif

static int isa_avx2(void) { return tp_isa_level() >= 1; }
static int isa_avx512(void) { return tp_isa_level() >= 2; }

static void direct_conv2d(const conv_shape *s, const float *x, const float *w, const float *bias, int relu, float *y) {
  const long K = conv_depth(s), pix = s->out_h * s->out_w;
  const long chunk = split_chunk(s), chunks = (s->batch + chunk - 1) / chunk;
  const int threads = conv_threads((double)s->batch * pix * K * s->out_c, chunks);
  direct_forward_fn f = direct_forward_generic;
#if defined(__x86_64__) || defined(__i386__)
  if (isa_avx2()) f = direct_forward_avx2;
#endif
  float *wp = direct_pad_filter(s, w, K);
  float bp[DIRECT_MAX_CO] __attribute__((aligned(64))) = {0};
  if (bias) memcpy(bp, bias, sizeof(float) * s->out_c);
  const taps t = make_taps(s);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (long c = 0; c < chunks; c++) {
    const long n0 = c * chunk;
    f(s, &t, x, wp, bp, relu, n0, min_l(chunk, s->batch - n0), y);
  }
  free_taps(t);
  free(wp);
}

/*
 * The direct filter gradient: f sums images' contributions into a per-thread kpad x width buffer
 * (kpad: K rounded up to its taps per block; width: the padded output channels), added up here;
 * f copies dy padded to width columns into a per-thread buffer of dy_rows rows.
 */
static void direct_backprop_filter_with(const conv_shape *s, const float *x, const float *dy, float *dw, direct_filter_fn f, long taps_per_block,
                                        long width, long dy_rows) {
  const long K = conv_depth(s), co = s->out_c, pix = s->out_h * s->out_w;
  const long chunk = split_chunk(s), chunks = s->batch > 0 ? (s->batch + chunk - 1) / chunk : 0;
  const int threads = conv_threads((double)s->batch * pix * K * co, chunks > 0 ? chunks : 1);
  const long kpad = round_up(K, taps_per_block), size = kpad * width;
  /* Padded taps read the window's corner (always a valid offset); their rows are dropped. */
  taps t = make_taps(s);
  long *off = realloc(t.off, sizeof(long) * kpad), *ty = realloc(t.y, sizeof(long) * kpad), *tx = realloc(t.x, sizeof(long) * kpad);
  if (!off || !ty || !tx) abort();
  t.off = off, t.y = ty, t.x = tx;
  for (long k = K; k < kpad; k++) t.off[k] = t.y[k] = t.x[k] = 0;
  const long dy_floats = dy_rows * s->out_w * width; /* per thread: dy padded to width columns, a row or an image (dy_rows) */
  float *parts = alloc_floats(threads * size + threads * dy_floats);
  if (!parts) abort();
  memset(parts, 0, sizeof(float) * (threads * size + threads * dy_floats));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
#ifdef _OPENMP
    const int me = omp_get_thread_num();
#else
    const int me = 0;
#endif
    float *dyrow = parts + threads * size + me * dy_floats;
#pragma omp for schedule(static)
    for (long c = 0; c < chunks; c++) {
      const long n0 = c * chunk;
      f(s, &t, kpad, x, dy, n0, min_l(chunk, s->batch - n0), dyrow, parts + me * size);
    }
  }
  for (long k = 0; k < K; k++)
    for (long j = 0; j < co; j++) {
      float v = 0.0f;
      for (int i = 0; i < threads; i++) v += parts[i * size + k * width + j];
      dw[k * co + j] = v;
    }
  free(parts);
  free_taps(t);
}

static void direct_backprop_filter(const conv_shape *s, const float *x, const float *dy, float *dw) {
  direct_filter_fn f = direct_filter_generic;
  long taps_per_block = DIRECT_TAPS;
#if defined(__x86_64__) || defined(__i386__)
  if (isa_avx2()) f = direct_filter_avx2;
  if (isa_avx512() && s->out_c > 8) f = direct_filter_avx512, taps_per_block = DIRECT_TAPS16;
#endif
  direct_backprop_filter_with(s, x, dy, dw, f, taps_per_block, DIRECT_MAX_CO, 1);
}

/* Whether a convolution takes wide_conv2d (AVX-512, 17-64 output channels; TOPIARY_DIRECT_CONV=0 keeps the GEMM). */
static int wide_conv(const conv_shape *s) {
  (void)direct_conv(s); /* reads TOPIARY_DIRECT_CONV */
#if defined(__x86_64__) || defined(__i386__)
  return g_direct && isa_avx512() && s->out_c > DIRECT_MAX_CO && s->out_c <= WIDE_MAX_CO;
#else
  (void)s;
  return 0;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
static void wide_conv2d(const conv_shape *s, const float *x, const float *w, const float *bias, int relu, float *y) {
  const long K = conv_depth(s), pix = s->out_h * s->out_w, co = s->out_c, nv = (co + 15) / 16;
  const long chunk = split_chunk(s), chunks = (s->batch + chunk - 1) / chunk;
  const int threads = conv_threads((double)s->batch * pix * K * co, chunks);
  direct_forward_fn f = nv == 2 ? wide_forward_2 : nv == 3 ? wide_forward_3 : wide_forward_4;
  /* The filter as K rows of nv * 16 floats, zero beyond Co; the bias the same way. */
  float *wp = alloc_floats(K * nv * 16);
  if (!wp) abort();
  memset(wp, 0, sizeof(float) * K * nv * 16);
  for (long k = 0; k < K; k++) memcpy(wp + k * nv * 16, w + k * co, sizeof(float) * co);
  float bp[WIDE_MAX_CO] __attribute__((aligned(64))) = {0};
  if (bias) memcpy(bp, bias, sizeof(float) * co);
  const taps t = make_taps(s);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (long c = 0; c < chunks; c++) {
    const long n0 = c * chunk;
    f(s, &t, x, wp, bp, relu, n0, min_l(chunk, s->batch - n0), y);
  }
  free_taps(t);
  free(wp);
}
#endif

void tp_conv2d(const conv_shape *s, const float *x, const float *w, const float *bias, int relu, float *y) {
  if (direct_conv(s)) {
    direct_conv2d(s, x, w, bias, relu, y);
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  if (wide_conv(s)) {
    wide_conv2d(s, x, w, bias, relu, y);
    return;
  }
#endif
  const long K = conv_depth(s), pix = s->out_h * s->out_w;
  const long chunk = split_chunk(s), chunks = (s->batch + chunk - 1) / chunk;
  const int threads = conv_threads((double)s->batch * pix * K * s->out_c, chunks);
  const taps t = make_taps(s);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (long c = 0; c < chunks; c++) {
    const long n0 = c * chunk, images = min_l(chunk, s->batch - n0);
    const im2col_view view = {s, x, n0, t.off, t.y, t.x};
    gemm_args g = {0};
    g.m = images * pix;
    g.n = s->out_c;
    g.k = K;
    g.col_a = &view;
    g.b = w;
    g.ldb = s->out_c;
    g.c = y + n0 * pix * s->out_c;
    g.ldc = s->out_c;
    g.bias = bias;
    g.relu = relu;
    g.serial = 1;
    tp_gemm(&g);
  }
  free_taps(t);
}

/*
 * With stride 1 and unit dilation the input gradient is itself a convolution, of dy:
 * dx[n, iy, ix, ci] = Σ dy[n, iy - (fh-1-pt) + ky', ix - (fw-1-pl) + kx', co] w[fh-1-ky', fw-1-kx', ci, co],
 * i.e. the filter flipped in space with its channel axes swapped, padded by fh-1-pt (fw-1-pl) at
 * the top (left), taps outside dy reading zero. Run as tp_conv2d on the direct kernels it writes
 * dx once per value: no column buffer and no col2im scatter, which cost as much as the product on
 * ResNet's 16-channel 3x3 layers (measured 0.7x their time).
 */
static int transposed_on_direct(const conv_shape *s);
static int wide_conv(const conv_shape *s);
/* Outputs o in [0, n_out) whose window [o - pad, o - pad + f) lies inside [0, n_in). */
static long windows_inside(long n_out, long n_in, long f, long pad) {
  const long last = min_l(n_out - 1, n_in - f + pad);
  return last >= pad ? last - pad + 1 : 0;
}

/*
 * Also only where at least half the transposed convolution's windows lie inside dy: a 'valid'
 * convolution's transposed one is padded by f - 1 on every side, and on small images (LeNet-5's
 * 5x5 over 8x8) most of its pixels take the per-tap-checked border path, which measured 2x
 * slower than GEMM + col2im.
 */
static int transposed_input_grad(const conv_shape *s) {
  if (s->stride_h != 1 || s->stride_w != 1 || s->dilation_h != 1 || s->dilation_w != 1 || s->pad_top < 0 || s->pad_left < 0 ||
      s->pad_top > s->filter_h - 1 || s->pad_left > s->filter_w - 1)
    return 0;
  const long rows = windows_inside(s->in_h, s->out_h, s->filter_h, s->filter_h - 1 - s->pad_top);
  const long cols = windows_inside(s->in_w, s->out_w, s->filter_w, s->filter_w - 1 - s->pad_left);
  return 2 * rows * cols >= s->in_h * s->in_w && transposed_on_direct(s);
}

/*
 * Only where the transposed convolution takes a kernel without packing (the direct ones, Ci <= 16,
 * or the AVX-512 wide one, Ci <= 64): on the implicit-im2col GEMM it measured 10-25% slower than
 * GEMM + col2im on ResNet-8's 32- and 64-channel layers (its packing gathers K = 9 Co values per
 * pixel for only Ci columns).
 */
static int transposed_on_direct(const conv_shape *s) {
  conv_shape t = *s;
  t.out_c = s->in_c;
  return direct_conv(&t) || wide_conv(&t);
}

static void conv2d_backprop_input_transposed(const conv_shape *s, const float *dy, const float *w, float *dx) {
  const long fh = s->filter_h, fw = s->filter_w, ci = s->in_c, co = s->out_c;
  float *wt = alloc_floats(fh * fw * ci * co);
  if (!wt) abort();
  for (long ky = 0; ky < fh; ky++)
    for (long kx = 0; kx < fw; kx++) {
      const float *src = w + ((fh - 1 - ky) * fw + (fw - 1 - kx)) * ci * co;
      float *dst = wt + (ky * fw + kx) * co * ci;
      for (long i = 0; i < ci; i++)
        for (long o = 0; o < co; o++) dst[o * ci + i] = src[i * co + o];
    }
  conv_shape t = *s;
  t.in_h = s->out_h, t.in_w = s->out_w, t.in_c = co;
  t.out_h = s->in_h, t.out_w = s->in_w, t.out_c = ci;
  t.pad_top = fh - 1 - s->pad_top, t.pad_left = fw - 1 - s->pad_left;
  tp_conv2d(&t, dy, wt, 0, 0, dx);
  free(wt);
}

void tp_conv2d_backprop_input(const conv_shape *s, const float *dy, const float *w, float *dx) {
  if (g_transposed_grad < 0) {
    const char *e = getenv("TOPIARY_TRANSPOSED_GRAD");
    g_transposed_grad = !(e && (strcmp(e, "0") == 0 || strcmp(e, "off") == 0));
  }
  if (g_transposed_grad && transposed_input_grad(s)) {
    conv2d_backprop_input_transposed(s, dy, w, dx);
    return;
  }
  const long K = conv_depth(s), pix = s->out_h * s->out_w;
  const long chunk = conv_chunk(s), chunks = (s->batch + chunk - 1) / chunk;
  const int threads = conv_threads((double)s->batch * pix * K * s->out_c, chunks);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (long c = 0; c < chunks; c++) {
    const long n0 = c * chunk, images = min_l(chunk, s->batch - n0);
    float *col = workspace(WS_COL, chunk * pix * K);
    gemm_args g = {0};
    g.m = images * pix;
    g.n = K;
    g.k = s->out_c;
    g.a = dy + n0 * pix * s->out_c;
    g.lda = s->out_c;
    g.b = w; /* stored K x Co: op(B) = wᵀ */
    g.ldb = s->out_c;
    g.trans_b = 1;
    g.c = col;
    g.ldc = K;
    g.serial = 1;
    tp_gemm(&g);
    col2im(s, col, n0, images, dx);
  }
}

void tp_conv2d_backprop_filter(const conv_shape *s, const float *x, const float *dy, float *dw) {
  if (direct_conv(s)) {
    direct_backprop_filter(s, x, dy, dw);
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  if (wide_conv(s)) {
    const long nv = (s->out_c + 15) / 16;
    direct_backprop_filter_with(s, x, dy, dw, nv == 2 ? wide_filter_2 : nv == 3 ? wide_filter_3 : wide_filter_4, WIDE_TAPS(nv), nv * 16, s->out_h);
    return;
  }
#endif
  const long K = conv_depth(s), pix = s->out_h * s->out_w, size = K * s->out_c;
  const long chunk = conv_chunk(s), chunks = s->batch > 0 ? (s->batch + chunk - 1) / chunk : 0;
  const int threads = conv_threads((double)s->batch * pix * K * s->out_c, chunks > 0 ? chunks : 1);
  /* Thread t sums its chunks into part t (thread 0 straight into dw); the parts are added at the end. */
  float *parts = threads > 1 ? workspace(WS_PARTS, (threads - 1) * size) : 0;
  memset(dw, 0, sizeof(float) * size);
  if (parts) memset(parts, 0, sizeof(float) * (threads - 1) * size);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
#ifdef _OPENMP
    const int me = omp_get_thread_num();
#else
    const int me = 0;
#endif
    float *acc = me == 0 ? dw : parts + (me - 1) * size;
#pragma omp for schedule(static)
    for (long c = 0; c < chunks; c++) {
      /* Here the columns are built (in a cache-sized buffer): each is read by every output channel. */
      const long n0 = c * chunk, images = min_l(chunk, s->batch - n0);
      float *col = workspace(WS_COL, chunk * pix * K);
      im2col(s, x, n0, images, col);
      gemm_args g = {0};
      g.m = K;
      g.n = s->out_c;
      g.k = images * pix;
      g.a = col; /* stored pixels x K: op(A) = colᵀ */
      g.lda = K;
      g.trans_a = 1;
      g.b = dy + n0 * pix * s->out_c;
      g.ldb = s->out_c;
      g.c = acc;
      g.ldc = s->out_c;
      g.accumulate = 1;
      g.serial = 1;
      tp_gemm(&g);
    }
  }
  for (int i = 1; i < threads; i++)
    for (long j = 0; j < size; j++) dw[j] += parts[(i - 1) * size + j];
}

/* ---- Adam ---------------------------------------------------------------------------------- */

/* No restrict: outputs may be the inputs (an update in place); each index is read before it is written. */
static inline __attribute__((always_inline)) void adam_body(long from, long to, const float *w, const float *g, const float *m,
                                                            const float *v, float *w1, float *m1, float *v1, float lr, float b1,
                                                            float b2, float eps, float c1, float c2) {
  const float ob1 = 1.0f - b1, ob2 = 1.0f - b2;
  for (long i = from; i < to; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + ob1 * gi;
    const float vi = b2 * v[i] + ob2 * gi * gi;
    m1[i] = mi;
    v1[i] = vi;
    w1[i] = w[i] - (lr * mi * c1) / (__builtin_sqrtf(vi * c2) + eps);
  }
}

typedef void (*adam_fn)(long, long, const float *, const float *, const float *, const float *, float *, float *, float *, float, float,
                        float, float, float, float);

static void adam_generic(long from, long to, const float *w, const float *g, const float *m, const float *v, float *w1, float *m1,
                         float *v1, float lr, float b1, float b2, float eps, float c1, float c2) {
  adam_body(from, to, w, g, m, v, w1, m1, v1, lr, b1, b2, eps, c1, c2);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static void adam_avx2(long from, long to, const float *w, const float *g, const float *m,
                                                          const float *v, float *w1, float *m1, float *v1, float lr, float b1,
                                                          float b2, float eps, float c1, float c2) {
  adam_body(from, to, w, g, m, v, w1, m1, v1, lr, b1, b2, eps, c1, c2);
}
#endif

void tp_adam(long n, const float *w, const float *g, const float *m, const float *v, float *w1, float *m1, float *v1, float lr, float b1,
             float b2, float eps, float c1, float c2) {
  adam_fn f = pick_micro() == micro_generic ? adam_generic : 0;
#if defined(__x86_64__) || defined(__i386__)
  if (!f) f = adam_avx2;
#endif
  if (!f) f = adam_generic;
  const int threads = n >= (1L << 16) ? tp_threads() : 1;
  if (threads == 1) {
    f(0, n, w, g, m, v, w1, m1, v1, lr, b1, b2, eps, c1, c2);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; t++) f(n * t / threads, n * (t + 1) / threads, w, g, m, v, w1, m1, v1, lr, b1, b2, eps, c1, c2);
}
