/*
 * The fused training step behind train.h. Every formula is the one Topiary's JavaScript path
 * computes (src-main/engine/finetune/trainer.ts, loss.ts, adam.ts, and tfjs-layers' layers), so
 * both give the same weights to float rounding: cross-entropy on log(max(softmax(z), 1e-7)) when
 * the model ends in softmax, on the logits otherwise; gradients of pruned weights zeroed before
 * Adam, weights re-masked after; BatchNorm as tfjs-layers trains it (batch mean and biased
 * variance over N, H, W; y = (x - mean) / sqrt(var + eps) * gamma + beta; moving statistics
 * m <- m - (m - batch) * (1 - momentum)).
 *
 * Threads: the batch is split into one lane per thread, each running the whole graph on its share
 * (per-operation threading pays a barrier per GEMM block, which for small layers costs as much as
 * the arithmetic). The lanes meet only where the maths needs the whole batch: at each BatchNorm
 * (forward: the batch statistics; backward: sums of dy and dy * xhat), by adding up per-lane
 * partial sums behind an OpenMP barrier, and once at the end to add up their gradients.
 */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#define PROB_FLOOR 1e-7f
/* Steps the training profile leaves out: the first ones page-fault the lane buffers in. */
#define PROFILE_SKIP 2

/*
 * The node kernels are inlined into forward/backward drivers compiled twice, for AVX2+FMA and for
 * the baseline instruction set, and picked at run time like gemm.c's (TOPIARY_NATIVE_ISA=generic
 * forces the baseline): the memory-bound loops over NHWC channels vectorise 8 wide.
 */
#define HOT static inline __attribute__((always_inline))

typedef struct {
  int kind, act, softmax;
  int p[4];
  long in_size, out_size;
  int nin;
  int in[TP_MAX_INPUTS];
  int owner;    /* node whose buffers hold this node's output (itself unless an identity; -1: the model input) */
  int upstream; /* some trainable parameter is at or before this node: its output needs a gradient */
  conv_shape conv;                                     /* Conv2D, depthwise */
  long in_h, in_w, c, out_h, out_w, ph, pw, sh, sw, pt, pl; /* pools; pad: pt, pb (=ph), pl, pr (=pw) */
  float decay, bn_eps;                                 /* BatchNorm */
} node;

/* A share of the batch, run start to finish by one thread: its own activations and gradients. */
typedef struct {
  long cap;       /* samples the buffers hold */
  float **buf;    /* per node: output (NULL for identities: they alias their owner's) */
  float **dbuf;   /* per node: gradient of the output (NULL when no gradient is needed) */
  char *written;  /* per node, this step: dbuf holds a value (later contributions add to it) */
  float *scratch; /* one input's worth of gradient, for contributions that cannot add in place */
  long scratch_size;
  double **stat;  /* per BatchNorm node: this lane's sums (forward: x, x^2; backward: dy, dy*xhat) */
  float **norm;   /* per BatchNorm node: the batch's mean and 1/sqrt(var + eps), 2C */
  float **g;      /* per parameter: this lane's gradient (lane 0: the trainer's own) */
  double loss, correct;
} lane;

struct tp_trainer {
  int nnodes;
  node *nodes;
  int nparams;
  long *size;
  char *trainable;
  float **w, **g, **m, **v, **mask;
  float lr, b1, b2, eps;
  long step;
  int probs;
  int nlanes, active; /* lanes allocated; lanes in the current step */
  int max_lanes;      /* lanes a step may use (TOPIARY_GRAPH_LANES caps it; 1: one lane, threaded kernels) */
  long batch;         /* samples in the current step */
  int eval;           /* inside tp_trainer_predict: BatchNorm normalises with its moving statistics */
  /*
   * Inference folds a BatchNorm into the Dense/Conv2D/depthwise node it reads when it is that
   * node's only reader: per node, the BatchNorm it folds into (-1: none), and its kernel and bias
   * with the BatchNorm's scale and shift applied, made from weights at version fold_version.
   */
  int *fold_into;
  char *folded; /* per node: a BatchNorm whose work its input node does in inference */
  float **fold_w, **fold_b;
  long version, fold_version; /* version: bumped whenever a weight changes */
  lane *lanes;
  double *prof; /* TOPIARY_TRAIN_PROFILE: lane 0's seconds per node, forward, backward, then inference forward */
  long predicts; /* tp_trainer_predict calls (for the profile) */
};

static void *zalloc(size_t bytes) { return calloc(1, bytes > 0 ? bytes : 1); }

/*
 * A lane buffer (activations, gradients, scratch: up to gigabytes at 224x224). Large ones are
 * 2 MiB-aligned and asked to be backed by transparent huge pages where the kernel offers them on
 * request (THP "madvise", Debian's default): their first touch, in the first training step, then
 * takes one fault per 2 MiB instead of one per 4 KiB. Freed with free().
 */
static void *lane_alloc(size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const size_t huge = (size_t)2 << 20;
  if (bytes >= 4 * huge) {
    void *p = 0;
    if (posix_memalign(&p, huge, bytes) != 0) return 0;
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: without THP the buffer still works */
    return p;
  }
#endif
  return malloc(bytes > 0 ? bytes : 1);
}

static void free_lane_buffers(const tp_trainer *t, lane *ln) {
  for (int i = 0; i < t->nnodes; i++) {
    free(ln->buf[i]);
    free(ln->dbuf[i]);
    ln->buf[i] = ln->dbuf[i] = 0;
  }
  free(ln->scratch);
  ln->scratch = 0;
  ln->cap = 0;
}

void tp_trainer_free(tp_trainer *t) {
  if (!t) return;
  for (int p = 0; p < t->nparams; p++) {
    free(t->w[p]);
    free(t->g[p]);
    free(t->m[p]);
    free(t->v[p]);
    free(t->mask[p]);
  }
  for (int k = 0; k < t->nlanes; k++) {
    lane *ln = &t->lanes[k];
    if (ln->buf) free_lane_buffers(t, ln);
    for (int i = 0; ln->stat && i < t->nnodes; i++) {
      free(ln->stat[i]);
      free(ln->norm[i]);
    }
    if (k > 0)
      for (int p = 0; ln->g && p < t->nparams; p++) free(ln->g[p]);
    free(ln->buf);
    free(ln->dbuf);
    free(ln->written);
    free(ln->stat);
    free(ln->norm);
    free(ln->g);
  }
  free(t->lanes);
  free(t->w);
  free(t->g);
  free(t->m);
  free(t->v);
  free(t->mask);
  free(t->size);
  free(t->trainable);
  if (t->prof) {
    static const char *names[] = {"?", "dense", "conv", "maxpool", "identity", "depthwise", "batchnorm", "activation", "add", "pad", "avgpool", "gap"};
    double total = 0.0;
    for (int i = 0; i < 2 * t->nnodes; i++) total += t->prof[i];
    const long steps = t->step - PROFILE_SKIP;
    if (steps > 0) fprintf(stderr, "topiary train profile (lane 0 CPU time, %ld steps after the first %d, %.1f ms/step):\n", steps, PROFILE_SKIP, 1e3 * total / steps);
    for (int i = 0; steps > 0 && i < t->nnodes; i++)
      fprintf(stderr, "  %3d %-10s out %7ld  fwd %7.3f ms  bwd %7.3f ms\n", i, names[t->nodes[i].kind], t->nodes[i].out_size, 1e3 * t->prof[i] / steps,
              1e3 * t->prof[t->nnodes + i] / steps);
    if (t->predicts) {
      double inference = 0.0;
      for (int i = 0; i < t->nnodes; i++) inference += t->prof[2 * t->nnodes + i];
      fprintf(stderr, "topiary inference profile (lane 0 CPU time, %ld calls, %.3f ms/call):\n", t->predicts, 1e3 * inference / (double)t->predicts);
      for (int i = 0; i < t->nnodes; i++)
        fprintf(stderr, "  %3d %-10s out %7ld  fwd %7.3f ms\n", i, names[t->nodes[i].kind], t->nodes[i].out_size, 1e3 * t->prof[2 * t->nnodes + i] / (double)t->predicts);
    }
  }
  free(t->prof);
  for (int i = 0; t->fold_w && i < t->nnodes; i++) {
    free(t->fold_w[i]);
    free(t->fold_b[i]);
  }
  free(t->fold_w);
  free(t->fold_b);
  free(t->fold_into);
  free(t->folded);
  free(t->nodes);
  free(t);
}

static int param_ok(const tp_trainer *t, int p, long want) { return p >= 0 && p < t->nparams && t->size[p] == want; }

/* Reads a node's description; the reason it is inconsistent, or NULL. */
static const char *read_node(tp_trainer *t, int i, const int *c, const double *r, char *used) {
  node *L = &t->nodes[i];
  L->kind = c[0];
  L->act = c[1];
  L->softmax = c[2] != 0;
  for (int j = 0; j < 4; j++) L->p[j] = c[3 + j];
  L->in_size = c[7];
  L->out_size = c[8];
  L->nin = c[9];
  const int *g = c + TP_GEOMETRY_AT;
  if (L->in_size <= 0 || L->out_size <= 0) return "node sizes must be positive";
  if (L->act < TP_LINEAR || L->act > TP_RELU6) return "unknown activation";
  if (L->softmax && i != t->nnodes - 1) return "softmax only on the last node";
  if (L->nin < 1 || L->nin > TP_MAX_INPUTS || (L->kind != TP_ADD && L->nin != 1)) return "number of inputs";
  for (int j = 0; j < L->nin; j++) {
    const int from = c[10 + j];
    if (from < -1 || from >= i) return "inputs must come before the node (topological order)";
    const long size = from < 0 ? t->nodes[0].in_size : t->nodes[from].out_size;
    if (from < 0 && i > 0 && size != L->in_size) return "node sizes do not match their inputs";
    if (from >= 0 && size != L->in_size) return "node sizes do not match their inputs";
    L->in[j] = from;
  }
  for (int j = 0; j < 4; j++) {
    const int p = L->p[j];
    if (p < -1 || p >= t->nparams) return "parameter index";
    if (p >= 0 && used[p]++) return "a parameter used by two nodes";
  }
  const int has_params = L->p[0] >= 0 || L->p[1] >= 0 || L->p[2] >= 0 || L->p[3] >= 0;
  switch (L->kind) {
    case TP_DENSE:
      if (!param_ok(t, L->p[0], L->in_size * L->out_size)) return "Dense kernel size";
      if (L->p[1] >= 0 && !param_ok(t, L->p[1], L->out_size)) return "Dense bias size";
      break;
    case TP_CONV:
    case TP_DEPTHWISE: {
      conv_shape *s = &L->conv;
      *s = (conv_shape){0, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13]};
      if (s->in_h * s->in_w * s->in_c != L->in_size || s->out_h * s->out_w * s->out_c != L->out_size) return "convolution shape";
      if (s->stride_h < 1 || s->stride_w < 1 || s->dilation_h != 1 || s->dilation_w != 1 || s->filter_h < 1 || s->filter_w < 1)
        return "convolution strides/dilation";
      if (L->kind == TP_DEPTHWISE && s->out_c != s->in_c) return "depthwise convolutions with a depth multiplier of 1 only";
      const long kernel = s->filter_h * s->filter_w * s->in_c * (L->kind == TP_CONV ? s->out_c : 1);
      if (!param_ok(t, L->p[0], kernel)) return "convolution kernel size";
      if (L->p[1] >= 0 && !param_ok(t, L->p[1], s->out_c)) return "convolution bias size";
      break;
    }
    case TP_MAXPOOL:
    case TP_AVGPOOL:
      L->in_h = g[0], L->in_w = g[1], L->c = g[2], L->out_h = g[3], L->out_w = g[4], L->ph = g[5], L->pw = g[6];
      L->sh = g[7], L->sw = g[8], L->pt = g[9], L->pl = g[10];
      if (L->in_h * L->in_w * L->c != L->in_size || L->out_h * L->out_w * L->c != L->out_size || L->ph < 1 || L->pw < 1 || L->sh < 1 ||
          L->sw < 1 || has_params || L->act)
        return "pooling shape";
      if (L->kind == TP_AVGPOOL && (L->pt != 0 || L->pl != 0 || (L->out_h - 1) * L->sh + L->ph > L->in_h || (L->out_w - 1) * L->sw + L->pw > L->in_w))
        return "average pooling without padding only";
      break;
    case TP_BATCHNORM: {
      L->c = g[0];
      L->decay = (float)r[0];
      L->bn_eps = (float)r[1];
      if (L->c < 1 || L->in_size != L->out_size || L->in_size % L->c != 0 || L->act) return "BatchNorm shape";
      for (int j = 0; j < 4; j++)
        if (!param_ok(t, L->p[j], L->c)) return "BatchNorm needs gamma, beta, moving mean and variance of C values";
      t->trainable[L->p[2]] = t->trainable[L->p[3]] = 0;
      break;
    }
    case TP_PAD:
      L->in_h = g[0], L->in_w = g[1], L->c = g[2], L->pt = g[3], L->ph = g[4], L->pl = g[5], L->pw = g[6];
      L->out_h = L->in_h + L->pt + L->ph;
      L->out_w = L->in_w + L->pl + L->pw;
      if (L->pt < 0 || L->ph < 0 || L->pl < 0 || L->pw < 0 || L->in_h * L->in_w * L->c != L->in_size || L->out_h * L->out_w * L->c != L->out_size ||
          has_params || L->act)
        return "padding shape";
      break;
    case TP_GAP:
      L->in_h = g[0], L->in_w = g[1], L->c = g[2];
      if (L->in_h * L->in_w * L->c != L->in_size || L->c != L->out_size || has_params || L->act) return "global pooling shape";
      break;
    case TP_ADD:
    case TP_ACTIVATION:
      if (L->in_size != L->out_size || has_params) return "element-wise node shape";
      break;
    case TP_IDENTITY:
      if (L->in_size != L->out_size || has_params || L->act) return "identity node shape";
      break;
    default:
      return "unknown node kind";
  }
  return 0;
}

tp_trainer *tp_trainer_create(int nnodes, const int *codes, const double *reals, int nparams, const long *param_sizes, int probs, double lr,
                              double beta1, double beta2, double epsilon, const char **err) {
  *err = 0;
  if (nnodes < 1) {
    *err = "a model needs at least one node";
    return 0;
  }
  tp_trainer *t = zalloc(sizeof *t);
  const int np = nparams > 0 ? nparams : 1;
  t->nnodes = nnodes;
  t->nparams = nparams;
  t->nodes = zalloc(sizeof(node) * nnodes);
  t->size = zalloc(sizeof(long) * np);
  t->trainable = zalloc(np);
  t->w = zalloc(sizeof(float *) * np);
  t->g = zalloc(sizeof(float *) * np);
  t->m = zalloc(sizeof(float *) * np);
  t->v = zalloc(sizeof(float *) * np);
  t->mask = zalloc(sizeof(float *) * np);
  t->nlanes = tp_threads();
  t->lanes = zalloc(sizeof(lane) * t->nlanes);
  t->max_lanes = t->nlanes;
  const char *cap = getenv("TOPIARY_GRAPH_LANES");
  if (cap && atoi(cap) >= 1 && atoi(cap) < t->nlanes) t->max_lanes = atoi(cap);
  t->probs = probs;
  t->lr = (float)lr;
  t->b1 = (float)beta1;
  t->b2 = (float)beta2;
  t->eps = (float)epsilon;
  for (int p = 0; p < nparams; p++) {
    if (param_sizes[p] <= 0) {
      *err = "parameter sizes must be positive";
      tp_trainer_free(t);
      return 0;
    }
    t->size[p] = param_sizes[p];
    t->trainable[p] = 1;
    t->w[p] = zalloc(sizeof(float) * param_sizes[p]);
  }
  char *used = zalloc(np);
  for (int i = 0; i < nnodes && !*err; i++) *err = read_node(t, i, codes + (long)i * TP_NODE_CODE, reals + 2L * i, used);
  for (int p = 0; p < nparams && !*err; p++)
    if (!used[p]) *err = "a parameter no node uses";
  free(used);
  if (*err) {
    tp_trainer_free(t);
    return 0;
  }
  /*
   * Fold each activation node into the node it reads when it is that node's only reader (a conv,
   * BatchNorm or Add followed by ReLU/ReLU6): one pass over the tensor and one buffer less. The
   * activation node becomes an identity on the folded output; the gradient is unchanged.
   */
  int *readers = zalloc(sizeof(int) * nnodes);
  for (int i = 0; i < nnodes; i++)
    for (int j = 0; j < t->nodes[i].nin; j++)
      if (t->nodes[i].in[j] >= 0) readers[t->nodes[i].in[j]]++;
  for (int i = 0; i < nnodes; i++) {
    node *a = &t->nodes[i];
    if (a->kind != TP_ACTIVATION || a->in[0] < 0) continue;
    node *f = &t->nodes[a->in[0]];
    const int foldable = f->kind == TP_DENSE || f->kind == TP_CONV || f->kind == TP_DEPTHWISE || f->kind == TP_BATCHNORM || f->kind == TP_ADD;
    if (!foldable || f->act != TP_LINEAR || f->softmax || readers[a->in[0]] != 1) continue;
    f->act = a->act;
    a->kind = TP_IDENTITY;
    a->act = TP_LINEAR;
  }
  /* BatchNorms that inference folds into the node before them (after the activations moved, so the BatchNorm's own is kept). */
  memset(readers, 0, sizeof(int) * nnodes);
  for (int i = 0; i < nnodes; i++)
    for (int j = 0; j < t->nodes[i].nin; j++)
      if (t->nodes[i].in[j] >= 0) readers[t->nodes[i].in[j]]++;
  t->fold_into = zalloc(sizeof(int) * nnodes);
  t->folded = zalloc(nnodes);
  t->fold_w = zalloc(sizeof(float *) * nnodes);
  t->fold_b = zalloc(sizeof(float *) * nnodes);
  t->fold_version = -1;
  for (int i = 0; i < nnodes; i++) t->fold_into[i] = -1;
  for (int i = 0; i < nnodes; i++) {
    const node *b = &t->nodes[i];
    if (b->kind != TP_BATCHNORM || b->in[0] < 0) continue;
    const node *f = &t->nodes[b->in[0]];
    const long channels = f->kind == TP_DENSE ? f->out_size : f->kind == TP_CONV || f->kind == TP_DEPTHWISE ? f->conv.out_c : -1;
    if (channels != b->c || f->act != TP_LINEAR || f->softmax || readers[b->in[0]] != 1) continue;
    t->fold_into[b->in[0]] = i;
    t->folded[i] = 1;
  }
  free(readers);
    /* Owners (identities alias their input) and which outputs need a gradient. */
  for (int i = 0; i < nnodes; i++) {
    node *L = &t->nodes[i];
    L->owner = L->kind == TP_IDENTITY ? (L->in[0] < 0 ? -1 : t->nodes[L->in[0]].owner) : i;
    L->upstream = (L->p[0] >= 0 && t->trainable[L->p[0]]) || (L->p[1] >= 0 && t->trainable[L->p[1]]);
    for (int j = 0; j < L->nin; j++)
      if (L->in[j] >= 0 && t->nodes[L->in[j]].upstream) L->upstream = 1;
  }
  const node *last = &t->nodes[nnodes - 1];
  if (last->owner < 0 || !last->upstream) *err = "the model has no trainable parameter before its output";
  for (int i = 0; i < nnodes - 1 && !*err; i++)
    if (t->nodes[i].softmax) *err = "softmax only on the last node";
  if (*err) {
    tp_trainer_free(t);
    return 0;
  }
  for (int p = 0; p < nparams; p++) {
    if (!t->trainable[p]) continue;
    t->g[p] = zalloc(sizeof(float) * t->size[p]);
    t->m[p] = zalloc(sizeof(float) * t->size[p]);
    t->v[p] = zalloc(sizeof(float) * t->size[p]);
  }
  if (getenv("TOPIARY_TRAIN_PROFILE")) t->prof = zalloc(sizeof(double) * 3 * nnodes);
  for (int k = 0; k < t->nlanes; k++) {
    lane *ln = &t->lanes[k];
    ln->buf = zalloc(sizeof(float *) * nnodes);
    ln->dbuf = zalloc(sizeof(float *) * nnodes);
    ln->written = zalloc(nnodes);
    ln->stat = zalloc(sizeof(double *) * nnodes);
    ln->norm = zalloc(sizeof(float *) * nnodes);
    for (int i = 0; i < nnodes; i++)
      if (t->nodes[i].kind == TP_BATCHNORM) {
        ln->stat[i] = zalloc(sizeof(double) * 4 * t->nodes[i].c);
        ln->norm[i] = zalloc(sizeof(float) * 2 * t->nodes[i].c);
      }
    ln->g = zalloc(sizeof(float *) * np);
    for (int p = 0; p < nparams; p++)
      if (t->trainable[p]) ln->g[p] = k == 0 ? t->g[p] : zalloc(sizeof(float) * t->size[p]);
  }
  return t;
}

int tp_trainer_nparams(const tp_trainer *t) { return t->nparams; }
long tp_trainer_param_size(const tp_trainer *t, int p) { return p >= 0 && p < t->nparams ? t->size[p] : -1; }
long tp_trainer_input_size(const tp_trainer *t) { return t->nodes[0].in_size; }
long tp_trainer_classes(const tp_trainer *t) { return t->nodes[t->nnodes - 1].out_size; }

void tp_trainer_set_param(tp_trainer *t, int p, const float *values) {
  memcpy(t->w[p], values, sizeof(float) * t->size[p]);
  t->version++;
}
void tp_trainer_get_param(const tp_trainer *t, int p, float *values) { memcpy(values, t->w[p], sizeof(float) * t->size[p]); }

void tp_trainer_set_mask(tp_trainer *t, int p, const float *mask) {
  if (!mask) {
    free(t->mask[p]);
    t->mask[p] = 0;
    return;
  }
  if (!t->mask[p]) t->mask[p] = zalloc(sizeof(float) * t->size[p]);
  memcpy(t->mask[p], mask, sizeof(float) * t->size[p]);
}

long tp_trainer_bytes(const tp_trainer *t) {
  long values = 0;
  for (int k = 0; k < t->nlanes; k++) {
    const lane *ln = &t->lanes[k];
    if (!ln->cap) continue;
    for (int i = 0; i < t->nnodes; i++) values += ((ln->buf[i] != 0) + (ln->dbuf[i] != 0)) * ln->cap * t->nodes[i].out_size;
    values += ln->scratch_size;
  }
  return values * (long)sizeof(float);
}

/* Buffers for n samples; 0 when memory ran out (the lane then holds none). */
static int ensure_capacity(const tp_trainer *t, lane *ln, long n) {
  if (n <= ln->cap) return 1;
  free_lane_buffers(t, ln);
  int ok = 1;
  long biggest = 0;
  for (int i = 0; i < t->nnodes; i++) {
    const node *L = &t->nodes[i];
    if (L->in_size > biggest) biggest = L->in_size;
    if (L->kind == TP_IDENTITY) continue;
    ok = ok && (ln->buf[i] = lane_alloc(sizeof(float) * n * L->out_size)) != 0;
    if (L->upstream) ok = ok && (ln->dbuf[i] = lane_alloc(sizeof(float) * n * L->out_size)) != 0;
  }
  ln->scratch_size = n * biggest;
  ok = ok && (ln->scratch = lane_alloc(sizeof(float) * ln->scratch_size)) != 0;
  ln->cap = n;
  if (!ok) free_lane_buffers(t, ln);
  return ok;
}
/* ---- max pooling (NHWC; padding never wins; ties go to the first maximum in row-major order) ---- */

/* 2x2 windows, stride 2, no padding (maxPooling2d({poolSize: 2})): four fixed offsets. */
HOT int pool_is_2x2(const node *L) {
  return L->ph == 2 && L->pw == 2 && L->sh == 2 && L->sw == 2 && L->pt == 0 && L->pl == 0 && 2 * L->out_h <= L->in_h && 2 * L->out_w <= L->in_w;
}

/* The input rows [*y0, *y1) and columns [*x0, *x1) under output (oy, ox)'s window, clipped to the input. */
HOT void pool_window(const node *L, long oy, long ox, long *y0, long *y1, long *x0, long *x1) {
  const long top = oy * L->sh - L->pt, left = ox * L->sw - L->pl;
  *y0 = top < 0 ? 0 : top;
  *y1 = top + L->ph < L->in_h ? top + L->ph : L->in_h;
  *x0 = left < 0 ? 0 : left;
  *x1 = left + L->pw < L->in_w ? left + L->pw : L->in_w;
}

/*
 * Any window and padding: for each output and channel, the first maximum of its window (row-major,
 * padding never wins). Forward writes it to y; backward (y NULL) adds dy to dx there.
 */
HOT void pool_general(const node *L, long n, const float *x, float *y, const float *dy, float *dx) {
  for (long b = 0; b < n; b++) {
    for (long oy = 0; oy < L->out_h; oy++) {
      for (long ox = 0; ox < L->out_w; ox++) {
        long y_from, y_to, x_from, x_to;
        pool_window(L, oy, ox, &y_from, &y_to, &x_from, &x_to);
        const long out = ((b * L->out_h + oy) * L->out_w + ox) * L->c;
        for (long ch = 0; ch < L->c; ch++) {
          float best = -INFINITY;
          long at = -1;
          for (long yy = y_from; yy < y_to; yy++) {
            for (long xx = x_from; xx < x_to; xx++) {
              const long i = ((b * L->in_h + yy) * L->in_w + xx) * L->c + ch;
              if (at < 0 || x[i] > best) {
                best = x[i];
                at = i;
              }
            }
          }
          if (y) y[out + ch] = best;
          else if (at >= 0) dx[at] += dy[out + ch];
        }
      }
    }
  }
}

HOT void maxpool_forward(const node *L, long n, const float *x, float *y) {
  if (pool_is_2x2(L)) {
    const long c = L->c, row = L->in_w * c;
    for (long b = 0; b < n; b++)
      for (long oy = 0; oy < L->out_h; oy++) {
        const float *r0 = x + (b * L->in_h + 2 * oy) * row, *r1 = r0 + row;
        float *dst = y + (b * L->out_h + oy) * L->out_w * c;
        for (long ox = 0; ox < L->out_w; ox++, r0 += 2 * c, r1 += 2 * c, dst += c)
          for (long ch = 0; ch < c; ch++) {
            const float a = r0[ch] > r0[ch + c] ? r0[ch] : r0[ch + c];
            const float d = r1[ch] > r1[ch + c] ? r1[ch] : r1[ch + c];
            dst[ch] = a > d ? a : d;
          }
      }
    return;
  }
  pool_general(L, n, x, y, 0, 0);
}

HOT void maxpool_backward(const node *L, long n, const float *x, const float *dy, float *dx) {
  if (pool_is_2x2(L) && L->in_h == 2 * L->out_h && L->in_w == 2 * L->out_w) {
    /* The windows tile the input exactly: every dx value is written once (no clearing pass, no adds). */
    const long c = L->c, row = L->in_w * c;
    for (long b = 0; b < n; b++)
      for (long oy = 0; oy < L->out_h; oy++) {
        const long base = (b * L->in_h + 2 * oy) * row;
        const float *g = dy + (b * L->out_h + oy) * L->out_w * c;
        for (long ox = 0; ox < L->out_w; ox++, g += c)
          for (long ch = 0; ch < c; ch++) {
            const long p = base + 2 * ox * c + ch;
            /* First maximum in the order (0,0), (0,1), (1,0), (1,1), as below; branch-free (the winner is data, not predictable). */
            const float a = x[p], r = x[p + c], d = x[p + row], e = x[p + row + c], v = g[ch];
            const int m1 = r > a;
            const float b1 = m1 ? r : a;
            const int m2 = d > b1;
            const int m3 = e > (m2 ? d : b1);
            dx[p + row + c] = m3 ? v : 0.0f;
            dx[p + row] = m2 & !m3 ? v : 0.0f;
            dx[p + c] = m1 & !m2 & !m3 ? v : 0.0f;
            dx[p] = !m1 & !m2 & !m3 ? v : 0.0f;
          }
      }
    return;
  }
  memset(dx, 0, sizeof(float) * n * L->in_size);
  if (pool_is_2x2(L)) {
    /* Same order as the general loop: (0,0), (0,1), (1,0), (1,1); a later one wins only if greater. */
    const long c = L->c, row = L->in_w * c;
    for (long b = 0; b < n; b++)
      for (long oy = 0; oy < L->out_h; oy++) {
        const long base = (b * L->in_h + 2 * oy) * row;
        const float *g = dy + (b * L->out_h + oy) * L->out_w * c;
        for (long ox = 0; ox < L->out_w; ox++, g += c)
          for (long ch = 0; ch < c; ch++) {
            const long p = base + 2 * ox * c + ch;
            long at = p;
            float best = x[p];
            if (x[p + c] > best) best = x[at = p + c];
            if (x[p + row] > best) best = x[at = p + row];
            if (x[p + row + c] > best) at = p + row + c;
            dx[at] += g[ch];
          }
      }
    return;
  }
  pool_general(L, n, x, 0, dy, dx);
}

/* ---- element-wise, depthwise, padding, pooling to 1x1, batch normalisation (NHWC) ----------- */

typedef float act_v8 __attribute__((vector_size(32)));
typedef int act_vi8 __attribute__((vector_size(32)));

HOT void activate(int act, float *restrict y, long count) {
  if (act == TP_RELU)
    for (long j = 0; j < count; j++) y[j] = y[j] > 0.0f ? y[j] : 0.0f;
  else if (act == TP_RELU6) {
    /*
     * Written with vector masks: GCC compiled the plain loop (nested or not) to a scalar branch
     * per value at some of its inlined sites (perf: a third of MobileNetV2-28's batch-64
     * inference). Same values, NaN included: v > 0 is false for NaN, so it becomes 0.
     */
    const act_v8 zero = {0}, six = {6, 6, 6, 6, 6, 6, 6, 6};
    long j = 0;
    for (; j + 8 <= count; j += 8) {
      act_v8 v;
      memcpy(&v, y + j, sizeof v);
      v = (act_v8)((act_vi8)(v > zero) & (act_vi8)v);
      const act_vi8 below = (act_vi8)(v < six);
      v = (act_v8)((below & (act_vi8)v) | (~below & (act_vi8)six));
      memcpy(y + j, &v, sizeof v);
    }
    for (; j < count; j++) {
      const float v = y[j] > 0.0f ? y[j] : 0.0f;
      y[j] = v < 6.0f ? v : 6.0f;
    }
  }
}

/*
 * d *= act'(pre), read off the output: relu passes where out > 0, relu6 where 0 < out < 6 (the
 * ties out == 0 or 6 with pre exactly there have measure zero).
 */
HOT void activate_grad(int act, const float *restrict out, float *restrict d, long count) {
  if (act == TP_RELU)
    for (long j = 0; j < count; j++) d[j] = out[j] > 0.0f ? d[j] : 0.0f;
  else if (act == TP_RELU6)
    for (long j = 0; j < count; j++) d[j] = out[j] > 0.0f && out[j] < 6.0f ? d[j] : 0.0f;
}

HOT void add_into(float *restrict dst, const float *restrict src, long count) {
  for (long j = 0; j < count; j++) dst[j] += src[j];
}

HOT void column_sums(const float *d, long rows, long cols, float *out) {
  memset(out, 0, sizeof(float) * cols);
  for (long r = 0; r < rows; r++)
    for (long j = 0; j < cols; j++) out[j] += d[r * cols + j];
}

/*
 * Depthwise convolution, depth multiplier 1: y[b,oy,ox,c] = bias[c] + Σ_{ky,kx} x[b, oy*sh - pt + ky,
 * ox*sw - pl + kx, c] w[ky,kx,c]; the channel loop is innermost (contiguous in NHWC and in w).
 */
HOT void depthwise_forward(const conv_shape *s, long n, const float *x, const float *w, const float *bias, float *y) {
  const long C = s->in_c;
  for (long b = 0; b < n; b++)
    for (long oy = 0; oy < s->out_h; oy++)
      for (long ox = 0; ox < s->out_w; ox++) {
        float *restrict yr = y + ((b * s->out_h + oy) * s->out_w + ox) * C;
        if (bias) memcpy(yr, bias, sizeof(float) * C);
        else memset(yr, 0, sizeof(float) * C);
        for (long ky = 0; ky < s->filter_h; ky++) {
          const long iy = oy * s->stride_h - s->pad_top + ky;
          if (iy < 0 || iy >= s->in_h) continue;
          for (long kx = 0; kx < s->filter_w; kx++) {
            const long ix = ox * s->stride_w - s->pad_left + kx;
            if (ix < 0 || ix >= s->in_w) continue;
            const float *restrict xr = x + ((b * s->in_h + iy) * s->in_w + ix) * C;
            const float *restrict wr = w + (ky * s->filter_w + kx) * C;
            for (long c = 0; c < C; c++) yr[c] += xr[c] * wr[c];
          }
        }
      }
}

/* dw (overwritten) and, when dx is set, dx (overwritten) of a depthwise convolution. */
HOT void depthwise_backward(const conv_shape *s, long n, const float *x, const float *w, const float *dy, float *dw, float *dx) {
  const long C = s->in_c;
  memset(dw, 0, sizeof(float) * s->filter_h * s->filter_w * C);
  if (dx) memset(dx, 0, sizeof(float) * n * s->in_h * s->in_w * C);
  for (long b = 0; b < n; b++)
    for (long oy = 0; oy < s->out_h; oy++)
      for (long ox = 0; ox < s->out_w; ox++) {
        const float *restrict g = dy + ((b * s->out_h + oy) * s->out_w + ox) * C;
        for (long ky = 0; ky < s->filter_h; ky++) {
          const long iy = oy * s->stride_h - s->pad_top + ky;
          if (iy < 0 || iy >= s->in_h) continue;
          for (long kx = 0; kx < s->filter_w; kx++) {
            const long ix = ox * s->stride_w - s->pad_left + kx;
            if (ix < 0 || ix >= s->in_w) continue;
            const long at = ((b * s->in_h + iy) * s->in_w + ix) * C;
            const float *restrict xr = x + at;
            float *restrict dwr = dw + (ky * s->filter_w + kx) * C;
            for (long c = 0; c < C; c++) dwr[c] += xr[c] * g[c];
            if (dx) {
              float *restrict dxr = dx + at;
              const float *restrict wr = w + (ky * s->filter_w + kx) * C;
              for (long c = 0; c < C; c++) dxr[c] += g[c] * wr[c];
            }
          }
        }
      }
}

/* ZeroPadding2D: forward copies x into the middle of a zeroed y; backward (crop) the reverse. */
HOT void pad_copy(const node *L, long n, const float *src, float *dst, int forward) {
  const long C = L->c, row = L->in_w * C;
  if (forward) memset(dst, 0, sizeof(float) * n * L->out_size);
  for (long b = 0; b < n; b++)
    for (long yy = 0; yy < L->in_h; yy++) {
      const long inner = (b * L->in_h + yy) * row;
      const long outer = ((b * L->out_h + yy + L->pt) * L->out_w + L->pl) * C;
      if (forward) memcpy(dst + outer, src + inner, sizeof(float) * row);
      else memcpy(dst + inner, src + outer, sizeof(float) * row);
    }
}

/* Average pooling without padding: forward y = mean of each window; backward dx (overwritten). */
HOT void avgpool(const node *L, long n, const float *x, float *y, const float *dy, float *dx) {
  const long C = L->c;
  const float scale = 1.0f / (float)(L->ph * L->pw);
  if (dx) memset(dx, 0, sizeof(float) * n * L->in_size);
  for (long b = 0; b < n; b++)
    for (long oy = 0; oy < L->out_h; oy++)
      for (long ox = 0; ox < L->out_w; ox++) {
        const long out = ((b * L->out_h + oy) * L->out_w + ox) * C;
        if (y) memset(y + out, 0, sizeof(float) * C);
        for (long ky = 0; ky < L->ph; ky++)
          for (long kx = 0; kx < L->pw; kx++) {
            const long at = ((b * L->in_h + oy * L->sh + ky) * L->in_w + ox * L->sw + kx) * C;
            if (y)
              for (long c = 0; c < C; c++) y[out + c] += x[at + c];
            else
              for (long c = 0; c < C; c++) dx[at + c] += dy[out + c] * scale;
          }
        if (y)
          for (long c = 0; c < C; c++) y[out + c] *= scale;
      }
}

/* GlobalAveragePooling2D: y[b,c] = mean over the pixels; backward dx = dy / pixels everywhere. */
HOT void gap_forward(const node *L, long n, const float *x, float *y) {
  const long C = L->c, pixels = L->in_h * L->in_w;
  for (long b = 0; b < n; b++) {
    float *restrict yr = y + b * C;
    memset(yr, 0, sizeof(float) * C);
    for (long q = 0; q < pixels; q++) {
      const float *restrict xr = x + (b * pixels + q) * C;
      for (long c = 0; c < C; c++) yr[c] += xr[c];
    }
    for (long c = 0; c < C; c++) yr[c] /= (float)pixels;
  }
}

HOT void gap_backward(const node *L, long n, const float *dy, float *dx) {
  const long C = L->c, pixels = L->in_h * L->in_w;
  for (long b = 0; b < n; b++)
    for (long q = 0; q < pixels; q++) {
      float *restrict dr = dx + (b * pixels + q) * C;
      for (long c = 0; c < C; c++) dr[c] = dy[b * C + c] / (float)pixels;
    }
}

/* A 1x1 convolution with stride 1 and no padding: a matrix product over the pixels (NHWC). */
HOT int pointwise(const conv_shape *s) {
  return s->filter_h == 1 && s->filter_w == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_top == 0 && s->pad_left == 0 &&
         s->out_h == s->in_h && s->out_w == s->in_w;
}

/* Products with at most this many rows skip the packed GEMM (linear_forward). */
#define SMALL_ROWS 2

/* y[rows, out] = act(x[rows, in] · w[in, out] + bias): Dense, and 1x1 convolutions over their pixels. */
HOT void linear_forward(long rows, long in, long out, const float *x, const float *w, const float *bias, int act, float *y) {
  if (rows <= SMALL_ROWS) {
    /*
     * A few rows (inference at batch 1, a lane's last samples): each output row streams the kernel
     * once, row by row (contiguous, 8 wide), instead of packing all of it into panels for a 6x16
     * tile that 1 row of 6 would fill.
     */
    for (long r = 0; r < rows; r++) {
      const float *restrict xr = x + r * in;
      float *restrict yr = y + r * out;
      if (bias) memcpy(yr, bias, sizeof(float) * out);
      else memset(yr, 0, sizeof(float) * out);
      for (long i = 0; i < in; i++) {
        const float a = xr[i];
        const float *restrict wr = w + i * out;
        for (long j = 0; j < out; j++) yr[j] += a * wr[j];
      }
      activate(act, yr, out);
    }
    return;
  }
  gemm_args g = {0};
  g.m = rows;
  g.n = out;
  g.k = in;
  g.a = x;
  g.lda = in;
  g.b = w;
  g.ldb = out;
  g.c = y;
  g.ldc = out;
  g.bias = bias;
  g.relu = act == TP_RELU;
  tp_gemm(&g);
  if (act == TP_RELU6) activate(TP_RELU6, y, rows * out);
}

/* dw = xᵀ·dy, dbias = Σ_rows dy (when db is set), dx (+)= dy·wᵀ (when dx is set; acc: add to it). */
HOT void linear_backward(long rows, long in, long out, const float *x, const float *w, const float *dy, float *dw, float *db, float *dx, int acc) {
  gemm_args g = {0};
  g.trans_a = 1;
  g.m = in;
  g.n = out;
  g.k = rows;
  g.a = x;
  g.lda = in;
  g.b = dy;
  g.ldb = out;
  g.c = dw;
  g.ldc = out;
  tp_gemm(&g);
  if (db) column_sums(dy, rows, out, db);
  if (!dx) return;
  gemm_args h = {0};
  h.trans_b = 1;
  h.m = rows;
  h.n = in;
  h.k = out;
  h.a = dy;
  h.lda = out;
  h.b = w;
  h.ldb = out;
  h.c = dx;
  h.ldc = in;
  h.accumulate = acc;
  tp_gemm(&h);
}

/* Waits for every lane of the step (inside the step's parallel region; nothing with one lane). */
HOT void lanes_meet(const tp_trainer *t) {
  if (t->active > 1) {
#pragma omp barrier
  }
}

/*
 * BatchNorm forward in training: mean and biased variance over the whole batch (this lane adds
 * its sums, then reads every lane's), y = (x - mean) * inv * gamma + beta with inv =
 * 1/sqrt(var + eps); lane 0 moves the moving statistics m <- m - (m - batch) * (1 - momentum).
 */
HOT void batchnorm_forward(tp_trainer *t, int k, int i, long n, const float *x, float *y) {
  const node *L = &t->nodes[i];
  lane *ln = &t->lanes[k];
  const long C = L->c, rows = n * (L->in_size / C);
  if (t->eval) {
    /* Inference: tfjs's batchNorm with the moving statistics, (x - mean) * rsqrt(var + eps) * gamma + beta. */
    const float *mm = t->w[L->p[2]], *mv = t->w[L->p[3]], *gamma = t->w[L->p[0]], *beta = t->w[L->p[1]];
    float *scale = ln->norm[i];
    for (long c = 0; c < C; c++) scale[c] = 1.0f / sqrtf(mv[c] + L->bn_eps);
    for (long r = 0; r < rows; r++) {
      const float *restrict xr = x + r * C;
      float *restrict yr = y + r * C;
      for (long c = 0; c < C; c++) yr[c] = (xr[c] - mm[c]) * scale[c] * gamma[c] + beta[c];
      activate(L->act, yr, C);
    }
    return;
  }
  double *sum = ln->stat[i], *sq = sum + C;
  memset(sum, 0, sizeof(double) * 2 * C);
  for (long r = 0; r < rows; r++) {
    const float *restrict xr = x + r * C;
    for (long c = 0; c < C; c++) {
      sum[c] += xr[c];
      sq[c] += (double)xr[c] * xr[c];
    }
  }
  lanes_meet(t);
  const double count = (double)t->batch * (double)(L->in_size / C);
  float *mean = ln->norm[i], *inv = mean + C;
  float *mm = t->w[L->p[2]], *mv = t->w[L->p[3]];
  for (long c = 0; c < C; c++) {
    double s = 0.0, q = 0.0;
    for (int j = 0; j < t->active; j++) {
      s += t->lanes[j].stat[i][c];
      q += t->lanes[j].stat[i][C + c];
    }
    const double mu = s / count;
    double var = q / count - mu * mu;
    if (var < 0.0) var = 0.0;
    mean[c] = (float)mu;
    inv[c] = (float)(1.0 / sqrt((double)(float)var + (double)L->bn_eps));
    if (k == 0) {
      mm[c] -= (mm[c] - (float)mu) * L->decay;
      mv[c] -= (mv[c] - (float)var) * L->decay;
    }
  }
  const float *gamma = t->w[L->p[0]], *beta = t->w[L->p[1]];
  for (long r = 0; r < rows; r++) {
    const float *restrict xr = x + r * C;
    float *restrict yr = y + r * C;
    for (long c = 0; c < C; c++) yr[c] = (xr[c] - mean[c]) * inv[c] * gamma[c] + beta[c];
    activate(L->act, yr, C);
  }
}

/*
 * BatchNorm backward through the batch statistics: with xhat = (x - mean) inv and S1 = Σ dy,
 * S2 = Σ dy xhat over the batch, dbeta = S1, dgamma = S2, dx = gamma inv (dy - (S1 + xhat S2) / N).
 * This lane's shares of dgamma and dbeta go to its gradients (the lanes' add up after the step).
 */
HOT void batchnorm_backward(tp_trainer *t, int k, int i, long n, const float *x, const float *dy, float *dx) {
  const node *L = &t->nodes[i];
  lane *ln = &t->lanes[k];
  const long C = L->c, rows = n * (L->in_size / C);
  const float *mean = ln->norm[i], *inv = mean + C;
  double *s1 = ln->stat[i] + 2 * C, *s2 = s1 + C;
  memset(s1, 0, sizeof(double) * 2 * C);
  for (long r = 0; r < rows; r++) {
    const float *restrict xr = x + r * C, *restrict g = dy + r * C;
    for (long c = 0; c < C; c++) {
      s1[c] += g[c];
      s2[c] += g[c] * ((xr[c] - mean[c]) * inv[c]);
    }
  }
  float *dgamma = ln->g[L->p[0]], *dbeta = ln->g[L->p[1]];
  for (long c = 0; c < C; c++) {
    dbeta[c] = (float)s1[c];
    dgamma[c] = (float)s2[c];
  }
  if (!dx) return;
  lanes_meet(t);
  const double count = (double)t->batch * (double)(L->in_size / C);
  const float *gamma = t->w[L->p[0]];
  float *m1 = malloc(sizeof(float) * 2 * C), *m2 = m1 + C;
  for (long c = 0; c < C; c++) {
    double s = 0.0, q = 0.0;
    for (int j = 0; j < t->active; j++) {
      s += t->lanes[j].stat[i][2 * C + c];
      q += t->lanes[j].stat[i][3 * C + c];
    }
    m1[c] = (float)(s / count);
    m2[c] = (float)(q / count);
  }
  for (long r = 0; r < rows; r++) {
    const float *restrict xr = x + r * C, *restrict g = dy + r * C;
    float *restrict d = dx + r * C;
    for (long c = 0; c < C; c++) {
      const float xhat = (xr[c] - mean[c]) * inv[c];
      d[c] = gamma[c] * inv[c] * (g[c] - m1[c] - xhat * m2[c]);
    }
  }
  free(m1);
}
/* ---- loss ----------------------------------------------------------------------------------- */

/* Mean cross-entropy of the batch, its accuracy, and dL/dz (z: the last layer's pre-softmax output). */
/*
 * Cross-entropy summed over `rows` samples and their correct count; dL/dz for the mean over the
 * whole batch of `total` samples (the lanes' shares add up to the batch gradient).
 */
static void loss_and_grad(const tp_trainer *t, const float *z, const int *labels, long rows, long total, long classes, float *dz,
                          double *loss_sum, double *correct_count) {
  const long n = total;
  double loss_acc = 0.0;
  long correct = 0;
  double *p = malloc(sizeof(double) * classes);
  double *q = malloc(sizeof(double) * classes);
  for (long r = 0; r < rows; r++) {
    const float *zr = z + r * classes;
    float *dr = dz + r * classes;
    const int y = labels[r];
    double mx = zr[0];
    for (long j = 1; j < classes; j++) mx = zr[j] > mx ? zr[j] : mx;
    if (t->probs) {
      /* l = log(max(softmax(z), floor)); loss = -(l_y - log Σ exp(l)); the clamp passes no gradient. */
      double sum = 0.0;
      for (long j = 0; j < classes; j++) sum += p[j] = exp((double)zr[j] - mx);
      double qsum = 0.0;
      long arg = 0;
      for (long j = 0; j < classes; j++) {
        p[j] = (double)(float)(p[j] / sum);
        q[j] = p[j] >= PROB_FLOOR ? p[j] : PROB_FLOOR;
        qsum += q[j];
        if (q[j] > q[arg]) arg = j;
      }
      loss_acc += -(log(q[y]) - log(qsum));
      correct += arg == y;
      double dot = 0.0;
      for (long j = 0; j < classes; j++) {
        const double dl = (q[j] / qsum - (j == y ? 1.0 : 0.0)) / (double)n;
        const double dp = p[j] >= PROB_FLOOR ? dl / q[j] : 0.0;
        q[j] = dp; /* reuse: dL/dp */
        dot += dp * p[j];
      }
      for (long j = 0; j < classes; j++) dr[j] = (float)(p[j] * (q[j] - dot));
    } else {
      double sum = 0.0;
      long arg = 0;
      for (long j = 0; j < classes; j++) {
        sum += exp((double)zr[j] - mx);
        if (zr[j] > zr[arg]) arg = j;
      }
      const double lse = mx + log(sum);
      loss_acc += -((double)zr[y] - lse);
      correct += arg == y;
      for (long j = 0; j < classes; j++) dr[j] = (float)((exp((double)zr[j] - lse) - (j == y ? 1.0 : 0.0)) / (double)n);
    }
  }
  free(p);
  free(q);
  *loss_sum = loss_acc;
  *correct_count = (double)correct;
}

/* ---- the step ------------------------------------------------------------------------------- */

/* The calling thread's CPU time: on a shared box, wall time mostly measures other people's work. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Where node `i`'s output is in this lane (i < 0: the model input x). */
static const float *out_of(const tp_trainer *t, const lane *ln, int i, const float *x) {
  const int o = i < 0 ? -1 : t->nodes[i].owner;
  return o < 0 ? x : ln->buf[o];
}

/*
 * Where the gradient for node `from`'s output goes (NULL: none is needed). *acc says whether a
 * contribution is there already (a node read by several others: their gradients add up).
 */
static float *grad_to(const tp_trainer *t, lane *ln, int from, int *acc) {
  if (from < 0 || !t->nodes[from].upstream) return 0;
  const int o = t->nodes[from].owner;
  *acc = ln->written[o];
  ln->written[o] = 1;
  return ln->dbuf[o];
}

/* For kernels that overwrite their output: where to write (the target, or scratch to add in). */
static float *grad_begin(const tp_trainer *t, lane *ln, int from, float **target, int *acc) {
  *target = grad_to(t, ln, from, acc);
  return *target && *acc ? ln->scratch : *target;
}

static void grad_end(float *target, const float *written, int acc, long count) {
  if (target && acc) add_into(target, written, count);
}

HOT void forward_body(tp_trainer *t, int k, int i, const float *x, long n) {
  lane *ln = &t->lanes[k];
  const node *L = &t->nodes[i];
  const float *in = out_of(t, ln, L->in[0], x);
  float *y = ln->buf[i];
  const float *kernel = L->p[0] >= 0 ? t->w[L->p[0]] : 0;
  const float *bias = L->p[1] >= 0 ? t->w[L->p[1]] : 0;
  int act = L->act;
  const long count = n * L->out_size;
  if (t->eval && t->folded[i]) return; /* its input node wrote this BatchNorm's output */
  if (t->eval && t->fold_into[i] >= 0) {
    /* Kernel and bias with the BatchNorm folded in, writing straight into the BatchNorm's output. */
    kernel = t->fold_w[i];
    bias = t->fold_b[i];
    act = t->nodes[t->fold_into[i]].act;
    y = ln->buf[t->fold_into[i]];
  }
  switch (L->kind) {
    case TP_DENSE:
      linear_forward(n, L->in_size, L->out_size, in, kernel, bias, act, y);
      break;
    case TP_CONV: {
      conv_shape s = L->conv;
      s.batch = n;
      if (pointwise(&s)) {
        linear_forward(n * s.in_h * s.in_w, s.in_c, s.out_c, in, kernel, bias, act, y);
        break;
      }
      tp_conv2d(&s, in, kernel, bias, act != TP_LINEAR, y);
      if (act == TP_RELU6) activate(TP_RELU6, y, count);
      break;
    }
    case TP_DEPTHWISE:
      depthwise_forward(&L->conv, n, in, kernel, bias, y);
      activate(act, y, count);
      break;
    case TP_MAXPOOL:
      maxpool_forward(L, n, in, y);
      break;
    case TP_AVGPOOL:
      avgpool(L, n, in, y, 0, 0);
      break;
    case TP_BATCHNORM:
      batchnorm_forward(t, k, i, n, in, y);
      break;
    case TP_ACTIVATION:
      memcpy(y, in, sizeof(float) * count);
      activate(L->act, y, count);
      break;
    case TP_ADD:
      memcpy(y, in, sizeof(float) * count);
      for (int j = 1; j < L->nin; j++) add_into(y, out_of(t, ln, L->in[j], x), count);
      activate(L->act, y, count);
      break;
    case TP_PAD:
      pad_copy(L, n, in, y, 1);
      break;
    case TP_GAP:
      gap_forward(L, n, in, y);
      break;
    default: /* identity: its output is its input's buffer */
      break;
  }
}

HOT void zero_params(const tp_trainer *t, lane *ln, const node *L) {
  for (int j = 0; j < 4; j++)
    if (L->p[j] >= 0 && t->trainable[L->p[j]]) memset(ln->g[L->p[j]], 0, sizeof(float) * t->size[L->p[j]]);
}

HOT void backward_body(tp_trainer *t, int k, int i, const float *x, long n) {
  lane *ln = &t->lanes[k];
  const node *L = &t->nodes[i];
  if (!L->upstream || L->kind == TP_IDENTITY) return;
  if (!ln->written[i]) {
    zero_params(t, ln, L);
    return;
  }
  const float *in = out_of(t, ln, L->in[0], x);
  float *d = ln->dbuf[i];
  const long count = n * L->out_size, in_count = n * L->in_size;
  if (L->act != TP_LINEAR && L->kind != TP_ACTIVATION) activate_grad(L->act, ln->buf[i], d, count);
  float *target;
  int acc = 0;
  switch (L->kind) {
    case TP_DENSE: {
      float *din = grad_to(t, ln, L->in[0], &acc);
      linear_backward(n, L->in_size, L->out_size, in, t->w[L->p[0]], d, ln->g[L->p[0]], L->p[1] >= 0 ? ln->g[L->p[1]] : 0, din, acc);
      break;
    }
    case TP_CONV: {
      conv_shape s = L->conv;
      s.batch = n;
      if (pointwise(&s)) {
        float *din = grad_to(t, ln, L->in[0], &acc);
        linear_backward(n * s.in_h * s.in_w, s.in_c, s.out_c, in, t->w[L->p[0]], d, ln->g[L->p[0]], L->p[1] >= 0 ? ln->g[L->p[1]] : 0, din, acc);
        break;
      }
      tp_conv2d_backprop_filter(&s, in, d, ln->g[L->p[0]]);
      if (L->p[1] >= 0) column_sums(d, n * s.out_h * s.out_w, s.out_c, ln->g[L->p[1]]);
      float *dx = grad_begin(t, ln, L->in[0], &target, &acc);
      if (dx) tp_conv2d_backprop_input(&s, d, t->w[L->p[0]], dx);
      grad_end(target, dx, acc, in_count);
      break;
    }
    case TP_DEPTHWISE: {
      float *dx = grad_begin(t, ln, L->in[0], &target, &acc);
      depthwise_backward(&L->conv, n, in, t->w[L->p[0]], d, ln->g[L->p[0]], dx);
      if (L->p[1] >= 0) column_sums(d, n * L->conv.out_h * L->conv.out_w, L->conv.out_c, ln->g[L->p[1]]);
      grad_end(target, dx, acc, in_count);
      break;
    }
    case TP_MAXPOOL: {
      float *dx = grad_begin(t, ln, L->in[0], &target, &acc);
      if (dx) maxpool_backward(L, n, in, d, dx);
      grad_end(target, dx, acc, in_count);
      break;
    }
    case TP_AVGPOOL: {
      float *dx = grad_begin(t, ln, L->in[0], &target, &acc);
      if (dx) avgpool(L, n, 0, 0, d, dx);
      grad_end(target, dx, acc, in_count);
      break;
    }
    case TP_BATCHNORM: {
      float *dx = grad_begin(t, ln, L->in[0], &target, &acc);
      batchnorm_backward(t, k, i, n, in, d, dx);
      grad_end(target, dx, acc, in_count);
      break;
    }
    case TP_ACTIVATION: {
      float *dx = grad_begin(t, ln, L->in[0], &target, &acc);
      if (dx) {
        memcpy(dx, d, sizeof(float) * count);
        activate_grad(L->act, ln->buf[i], dx, count);
      }
      grad_end(target, dx, acc, in_count);
      break;
    }
    case TP_ADD:
      for (int j = 0; j < L->nin; j++) {
        float *dx = grad_to(t, ln, L->in[j], &acc);
        if (!dx) continue;
        if (acc) add_into(dx, d, count);
        else memcpy(dx, d, sizeof(float) * count);
      }
      break;
    case TP_PAD: {
      float *dx = grad_begin(t, ln, L->in[0], &target, &acc);
      if (dx) pad_copy(L, n, d, dx, 0);
      grad_end(target, dx, acc, in_count);
      break;
    }
    case TP_GAP: {
      float *dx = grad_begin(t, ln, L->in[0], &target, &acc);
      if (dx) gap_backward(L, n, d, dx);
      grad_end(target, dx, acc, in_count);
      break;
    }
  }
}

static void forward_generic(tp_trainer *t, int k, int i, const float *x, long n) { forward_body(t, k, i, x, n); }
static void backward_generic(tp_trainer *t, int k, int i, const float *x, long n) { backward_body(t, k, i, x, n); }
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static void forward_avx2(tp_trainer *t, int k, int i, const float *x, long n) { forward_body(t, k, i, x, n); }
__attribute__((target("avx2,fma"))) static void backward_avx2(tp_trainer *t, int k, int i, const float *x, long n) { backward_body(t, k, i, x, n); }
#endif

typedef void (*node_fn)(tp_trainer *, int, int, const float *, long);

/* The drivers for the instruction set gemm.c dispatched to. */
static void pick_drivers(node_fn *forward, node_fn *backward) {
  *forward = forward_generic;
  *backward = backward_generic;
#if defined(__x86_64__) || defined(__i386__)
  if (tp_isa_level() >= 1) {
    *forward = forward_avx2;
    *backward = backward_avx2;
  }
#endif
}

/* Forward, loss and backward for lane k's `n` samples of the batch. */
static void run_lane(tp_trainer *t, int k, const float *x, const int *labels, long n) {
  lane *ln = &t->lanes[k];
  double *prof = k == 0 && t->step >= PROFILE_SKIP ? t->prof : 0;
  node_fn forward_node, backward_node;
  pick_drivers(&forward_node, &backward_node);
  for (int i = 0; i < t->nnodes; i++) {
    const double t0 = prof ? now() : 0.0;
    forward_node(t, k, i, x, n);
    if (prof) prof[i] += now() - t0;
  }
  const node *last = &t->nodes[t->nnodes - 1];
  memset(ln->written, 0, t->nnodes);
  ln->written[last->owner] = 1;
  loss_and_grad(t, ln->buf[last->owner], labels, n, t->batch, last->out_size, ln->dbuf[last->owner], &ln->loss, &ln->correct);
  for (int i = t->nnodes - 1; i >= 0; i--) {
    const double t0 = prof ? now() : 0.0;
    backward_node(t, k, i, x, n);
    if (prof) prof[t->nnodes + i] += now() - t0;
  }
}

int tp_trainer_step(tp_trainer *t, const float *x, const int *labels, long n, double *loss, double *accuracy) {
  /* Lanes of at least 8 samples; one lane runs its kernels on all threads instead. */
  int lanes = t->max_lanes;
  while (lanes > 1 && n / lanes < 8) lanes--;
  for (int k = 0; k < lanes; k++)
    if (!ensure_capacity(t, &t->lanes[k], n * (k + 1) / lanes - n * k / lanes)) return -1;
  t->active = lanes;
  t->batch = n;
  const long in = t->nodes[0].in_size;
#pragma omp parallel num_threads(lanes) if (lanes > 1)
  {
#ifdef _OPENMP
    const int k = omp_get_thread_num();
#else
    const int k = 0;
#endif
    const long r0 = n * k / lanes, r1 = n * (k + 1) / lanes;
    run_lane(t, k, x + r0 * in, labels + r0, r1 - r0);
  }
  double loss_sum = 0.0, correct = 0.0;
  for (int k = 0; k < lanes; k++) {
    loss_sum += t->lanes[k].loss;
    correct += t->lanes[k].correct;
  }
  *loss = loss_sum / (double)n;
  *accuracy = correct / (double)n;
  for (int k = 1; k < lanes; k++)
    for (int p = 0; p < t->nparams; p++) {
      if (!t->trainable[p]) continue;
      float *g = t->g[p];
      const float *h = t->lanes[k].g[p];
      for (long j = 0; j < t->size[p]; j++) g[j] += h[j];
    }

  /* Masked Adam: pruned weights get no gradient (their moments stay zero) and stay exactly zero. */
  t->step++;
  t->version++;
  const double c1 = 1.0 / (1.0 - pow((double)t->b1, (double)t->step));
  const double c2 = 1.0 / (1.0 - pow((double)t->b2, (double)t->step));
  for (int p = 0; p < t->nparams; p++) {
    if (!t->trainable[p]) continue;
    const long size = t->size[p];
    float *g = t->g[p], *w = t->w[p];
    const float *mask = t->mask[p];
    if (mask)
      for (long j = 0; j < size; j++) g[j] *= mask[j];
    tp_adam(size, w, g, t->m[p], t->v[p], w, t->m[p], t->v[p], t->lr, t->b1, t->b2, t->eps, (float)c1, (float)c2);
    if (mask)
      for (long j = 0; j < size; j++) w[j] *= mask[j];
  }
  return 0;
}

/* Forward only, in inference mode, for lane k's share (no barriers: nothing is shared across lanes). */
static void predict_lane(tp_trainer *t, int k, const float *x, long n, float *out) {
  node_fn forward_node, backward_node;
  pick_drivers(&forward_node, &backward_node);
  double *prof = k == 0 && t->prof ? t->prof + 2 * t->nnodes : 0;
  for (int i = 0; i < t->nnodes; i++) {
    const double t0 = prof ? now() : 0.0;
    forward_node(t, k, i, x, n);
    if (prof) prof[i] += now() - t0;
  }
  const node *last = &t->nodes[t->nnodes - 1];
  const long classes = last->out_size;
  const float *z = out_of(t, &t->lanes[k], t->nnodes - 1, x);
  for (long r = 0; r < n; r++) {
    const float *zr = z + r * classes;
    float *o = out + r * classes;
    if (!last->softmax) {
      memcpy(o, zr, sizeof(float) * classes);
      continue;
    }
    /* tfjs's softmax: exp(z - max) / sum. */
    float mx = zr[0];
    for (long j = 1; j < classes; j++) mx = zr[j] > mx ? zr[j] : mx;
    float sum = 0.0f;
    for (long j = 0; j < classes; j++) sum += o[j] = expf(zr[j] - mx);
    for (long j = 0; j < classes; j++) o[j] /= sum;
  }
}

/*
 * The folded kernels and biases for the current weights: with s = gamma / sqrt(variance + eps)
 * per channel c (the kernel's last axis; a depthwise kernel's channel axis), kernel' = kernel * s
 * and bias' = (bias - mean) * s + beta, so BatchNorm(x·kernel + bias) = x·kernel' + bias'.
 */
static int update_folds(tp_trainer *t) {
  if (t->fold_version == t->version) return 1;
  for (int i = 0; i < t->nnodes; i++) {
    const int b = t->fold_into[i];
    if (b < 0) continue;
    const node *L = &t->nodes[i], *B = &t->nodes[b];
    const long size = t->size[L->p[0]], C = B->c;
    if (!t->fold_w[i]) t->fold_w[i] = malloc(sizeof(float) * size);
    if (!t->fold_b[i]) t->fold_b[i] = malloc(sizeof(float) * C);
    float *scale = malloc(sizeof(float) * C);
    if (!t->fold_w[i] || !t->fold_b[i] || !scale) {
      free(scale);
      return 0;
    }
    const float *gamma = t->w[B->p[0]], *beta = t->w[B->p[1]], *mm = t->w[B->p[2]], *mv = t->w[B->p[3]];
    const float *w = t->w[L->p[0]], *bias = L->p[1] >= 0 ? t->w[L->p[1]] : 0;
    for (long c = 0; c < C; c++) {
      scale[c] = 1.0f / sqrtf(mv[c] + B->bn_eps) * gamma[c];
      t->fold_b[i][c] = ((bias ? bias[c] : 0.0f) - mm[c]) * scale[c] + beta[c];
    }
    for (long j = 0; j < size; j += C)
      for (long c = 0; c < C; c++) t->fold_w[i][j + c] = w[j + c] * scale[c];
    free(scale);
  }
  t->fold_version = t->version;
  return 1;
}

int tp_trainer_predict(tp_trainer *t, const float *x, long n, float *out) {
  if (!update_folds(t)) return -1;
  int lanes = t->max_lanes;
  while (lanes > 1 && n / lanes < 8) lanes--;
  for (int k = 0; k < lanes; k++)
    if (!ensure_capacity(t, &t->lanes[k], n * (k + 1) / lanes - n * k / lanes)) return -1;
  t->eval = 1;
  t->predicts++;
  const long in = t->nodes[0].in_size, classes = t->nodes[t->nnodes - 1].out_size;
#pragma omp parallel num_threads(lanes) if (lanes > 1)
  {
#ifdef _OPENMP
    const int k = omp_get_thread_num();
#else
    const int k = 0;
#endif
    const long r0 = n * k / lanes, r1 = n * (k + 1) / lanes;
    predict_lane(t, k, x + r0 * in, r1 - r0, out + r0 * classes);
  }
  t->eval = 0;
  return 0;
}
