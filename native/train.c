/*
 * The fused training step behind train.h. Every formula is the one Topiary's JavaScript path
 * computes (src-main/engine/finetune/trainer.ts, loss.ts, adam.ts), so both give the same weights
 * to float rounding: cross-entropy on log(max(softmax(z), 1e-7)) when the model ends in softmax,
 * on the logits otherwise; gradients of pruned weights zeroed before Adam, weights re-masked after.
 */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROB_FLOOR 1e-7f

typedef struct {
  int kind, relu, softmax, w, b;
  long in_size, out_size;
  conv_shape conv;
  long in_h, in_w, c, out_h, out_w, ph, pw, sh, sw, pt, pl; /* max pooling */
} layer;

/*
 * A share of the batch, run start to finish by one thread: its own activations and gradients, so
 * the threads meet only once a step, to add up their gradients (per-operation threading pays a
 * barrier per GEMM block, which for LeNet-sized layers costs as much as the arithmetic).
 */
typedef struct {
  long cap;            /* samples the buffers hold */
  float **act, **dact; /* per layer: output and its gradient (NULL for Flatten: it aliases) */
  const float **out;   /* per step: where each layer's output is */
  float **dout;        /* where each layer's output gradient goes (NULL: not needed) */
  float **g;           /* per parameter: this lane's gradient (lane 0: the trainer's own) */
  double loss, correct;
} lane;

struct tp_trainer {
  int nlayers;
  layer *layers;
  int nparams;
  long *size;
  float **w, **g, **m, **v, **mask;
  float lr, b1, b2, eps;
  long step;
  int probs;
  int nlanes;
  lane *lanes;
};

static void *zalloc(size_t bytes) { return calloc(1, bytes > 0 ? bytes : 1); }

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
    for (int i = 0; i < t->nlayers; i++) {
      free(ln->act[i]);
      free(ln->dact[i]);
    }
    if (k > 0)
      for (int p = 0; p < t->nparams; p++) free(ln->g[p]);
    free(ln->act);
    free(ln->dact);
    free(ln->out);
    free(ln->dout);
    free(ln->g);
  }
  free(t->lanes);
  free(t->w);
  free(t->g);
  free(t->m);
  free(t->v);
  free(t->mask);
  free(t->size);
  free(t->layers);
  free(t);
}

static int param_ok(const tp_trainer *t, int p, long want) { return p >= 0 && p < t->nparams && t->size[p] == want; }

tp_trainer *tp_trainer_create(int nlayers, const int *codes, int nparams, const long *param_sizes, int probs, double lr, double beta1,
                              double beta2, double epsilon, const char **err) {
  *err = 0;
  if (nlayers < 1) {
    *err = "a model needs at least one layer";
    return 0;
  }
  tp_trainer *t = zalloc(sizeof *t);
  t->nlayers = nlayers;
  t->nparams = nparams;
  t->layers = zalloc(sizeof(layer) * nlayers);
  t->size = zalloc(sizeof(long) * (nparams > 0 ? nparams : 1));
  t->w = zalloc(sizeof(float *) * (nparams > 0 ? nparams : 1));
  t->g = zalloc(sizeof(float *) * (nparams > 0 ? nparams : 1));
  t->m = zalloc(sizeof(float *) * (nparams > 0 ? nparams : 1));
  t->v = zalloc(sizeof(float *) * (nparams > 0 ? nparams : 1));
  t->mask = zalloc(sizeof(float *) * (nparams > 0 ? nparams : 1));
  t->nlanes = tp_threads();
  t->lanes = zalloc(sizeof(lane) * t->nlanes);
  for (int k = 0; k < t->nlanes; k++) {
    lane *ln = &t->lanes[k];
    ln->act = zalloc(sizeof(float *) * nlayers);
    ln->dact = zalloc(sizeof(float *) * nlayers);
    ln->out = zalloc(sizeof(float *) * nlayers);
    ln->dout = zalloc(sizeof(float *) * nlayers);
    ln->g = zalloc(sizeof(float *) * (nparams > 0 ? nparams : 1));
  }
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
    t->w[p] = zalloc(sizeof(float) * param_sizes[p]);
    t->g[p] = zalloc(sizeof(float) * param_sizes[p]);
    for (int k = 0; k < t->nlanes; k++) t->lanes[k].g[p] = k == 0 ? t->g[p] : zalloc(sizeof(float) * param_sizes[p]);
    t->m[p] = zalloc(sizeof(float) * param_sizes[p]);
    t->v[p] = zalloc(sizeof(float) * param_sizes[p]);
  }
  long prev_out = -1;
  for (int i = 0; i < nlayers; i++) {
    const int *c = codes + (long)i * TP_LAYER_CODE;
    layer *L = &t->layers[i];
    L->kind = c[0];
    L->relu = c[1] != 0;
    L->softmax = c[2] != 0;
    L->w = c[3];
    L->b = c[4];
    L->in_size = c[5];
    L->out_size = c[6];
    if (L->in_size <= 0 || L->out_size <= 0 || (prev_out >= 0 && prev_out != L->in_size)) *err = "layer sizes do not chain";
    if (L->softmax && (i != nlayers - 1 || L->kind != TP_DENSE || L->relu)) *err = "softmax only on a final Dense layer";
    switch (L->kind) {
      case TP_DENSE:
        if (!param_ok(t, L->w, L->in_size * L->out_size)) *err = "Dense weight size";
        if (L->b >= 0 && !param_ok(t, L->b, L->out_size)) *err = "Dense bias size";
        break;
      case TP_CONV: {
        conv_shape *s = &L->conv;
        *s = (conv_shape){0, c[7], c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15], c[16], c[17], c[18], c[19], c[20]};
        if (s->in_h * s->in_w * s->in_c != L->in_size || s->out_h * s->out_w * s->out_c != L->out_size) *err = "Conv2D shape";
        if (s->stride_h < 1 || s->stride_w < 1 || s->dilation_h != 1 || s->dilation_w != 1) *err = "Conv2D strides/dilation";
        if (!param_ok(t, L->w, s->filter_h * s->filter_w * s->in_c * s->out_c)) *err = "Conv2D filter size";
        if (L->b >= 0 && !param_ok(t, L->b, s->out_c)) *err = "Conv2D bias size";
        break;
      }
      case TP_POOL:
        L->in_h = c[7];
        L->in_w = c[8];
        L->c = c[9];
        L->out_h = c[10];
        L->out_w = c[11];
        L->ph = c[12];
        L->pw = c[13];
        L->sh = c[14];
        L->sw = c[15];
        L->pt = c[16];
        L->pl = c[17];
        if (L->in_h * L->in_w * L->c != L->in_size || L->out_h * L->out_w * L->c != L->out_size || L->ph < 1 || L->pw < 1 || L->sh < 1 ||
            L->sw < 1 || L->relu || L->w >= 0 || L->b >= 0)
          *err = "MaxPool shape";
        break;
      case TP_FLATTEN:
        if (L->in_size != L->out_size || L->relu || L->w >= 0 || L->b >= 0) *err = "Flatten shape";
        break;
      default:
        *err = "unknown layer kind";
    }
    if (*err) {
      tp_trainer_free(t);
      return 0;
    }
    prev_out = L->out_size;
  }
  if (t->layers[nlayers - 1].kind == TP_FLATTEN || t->layers[nlayers - 1].kind == TP_POOL) {
    *err = "the last layer must be Dense or Conv2D";
    tp_trainer_free(t);
    return 0;
  }
  return t;
}

int tp_trainer_nparams(const tp_trainer *t) { return t->nparams; }
long tp_trainer_param_size(const tp_trainer *t, int p) { return p >= 0 && p < t->nparams ? t->size[p] : -1; }
long tp_trainer_input_size(const tp_trainer *t) { return t->layers[0].in_size; }
long tp_trainer_classes(const tp_trainer *t) { return t->layers[t->nlayers - 1].out_size; }

void tp_trainer_set_param(tp_trainer *t, int p, const float *values) { memcpy(t->w[p], values, sizeof(float) * t->size[p]); }
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

static void ensure_capacity(const tp_trainer *t, lane *ln, long n) {
  if (n <= ln->cap) return;
  for (int i = 0; i < t->nlayers; i++) {
    free(ln->act[i]);
    free(ln->dact[i]);
    ln->act[i] = ln->dact[i] = 0;
    const layer *L = &t->layers[i];
    if (L->kind == TP_FLATTEN) continue;
    ln->act[i] = zalloc(sizeof(float) * n * L->out_size);
    ln->dact[i] = zalloc(sizeof(float) * n * L->out_size);
  }
  ln->cap = n;
}

/* ---- max pooling (NHWC; padding never wins; ties go to the first maximum in row-major order) ---- */

/* 2x2 windows, stride 2, no padding (maxPooling2d({poolSize: 2})): four fixed offsets. */
static int pool_is_2x2(const layer *L) {
  return L->ph == 2 && L->pw == 2 && L->sh == 2 && L->sw == 2 && L->pt == 0 && L->pl == 0 && 2 * L->out_h <= L->in_h && 2 * L->out_w <= L->in_w;
}

/* The input rows [*y0, *y1) and columns [*x0, *x1) under output (oy, ox)'s window, clipped to the input. */
static void pool_window(const layer *L, long oy, long ox, long *y0, long *y1, long *x0, long *x1) {
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
static void pool_general(const layer *L, long n, const float *x, float *y, const float *dy, float *dx) {
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

static void pool_forward(const layer *L, long n, const float *x, float *y) {
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

static void pool_backward(const layer *L, long n, const float *x, const float *dy, float *dx) {
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

/* d *= (out > 0): the gradient through relu (out = relu(pre) > 0 exactly when pre > 0). */
static void relu_grad(const float *restrict out, float *restrict d, long count) {
  for (long j = 0; j < count; j++) d[j] = out[j] > 0.0f ? d[j] : 0.0f;
}

static void column_sums(const float *d, long rows, long cols, float *out) {
  memset(out, 0, sizeof(float) * cols);
  for (long r = 0; r < rows; r++)
    for (long j = 0; j < cols; j++) out[j] += d[r * cols + j];
}

/* Forward, loss and backward for `n` of the batch's `total` samples, into the lane's buffers. */
static void run_lane(const tp_trainer *t, lane *ln, const float *x, const int *labels, long n, long total) {
  ensure_capacity(t, ln, n);
  const int last = t->nlayers - 1;
  /* Forward. */
  const float *in = x;
  for (int i = 0; i <= last; i++) {
    const layer *L = &t->layers[i];
    const float *bias = L->b >= 0 ? t->w[L->b] : 0;
    switch (L->kind) {
      case TP_DENSE: {
        gemm_args g = {0};
        g.m = n;
        g.n = L->out_size;
        g.k = L->in_size;
        g.a = in;
        g.lda = L->in_size;
        g.b = t->w[L->w];
        g.ldb = L->out_size;
        g.c = ln->act[i];
        g.ldc = L->out_size;
        g.bias = bias;
        g.relu = L->relu;
        tp_gemm(&g);
        ln->out[i] = ln->act[i];
        break;
      }
      case TP_CONV: {
        conv_shape s = L->conv;
        s.batch = n;
        tp_conv2d(&s, in, t->w[L->w], bias, L->relu, ln->act[i]);
        ln->out[i] = ln->act[i];
        break;
      }
      case TP_POOL:
        pool_forward(L, n, in, ln->act[i]);
        ln->out[i] = ln->act[i];
        break;
      default: /* Flatten: same values, same order (NHWC) */
        ln->out[i] = in;
    }
    /* Where the gradient of this layer's output goes; a Flatten shares its input's. */
    if (L->kind == TP_FLATTEN) ln->dout[i] = i > 0 ? ln->dout[i - 1] : 0;
    else ln->dout[i] = ln->dact[i];
    in = ln->out[i];
  }
  const long classes = t->layers[last].out_size;
  loss_and_grad(t, ln->out[last], labels, n, total, classes, ln->dout[last], &ln->loss, &ln->correct);

  /* Backward. */
  for (int i = last; i >= 0; i--) {
    const layer *L = &t->layers[i];
    if (L->kind == TP_FLATTEN) continue;
    const float *input = i > 0 ? ln->out[i - 1] : x;
    float *d = ln->dout[i];
    float *din = i > 0 ? ln->dout[i - 1] : 0;
    const long count = n * L->out_size;
    if (L->relu) relu_grad(ln->out[i], d, count);
    switch (L->kind) {
      case TP_DENSE: {
        gemm_args g = {0};
        g.trans_a = 1;
        g.m = L->in_size;
        g.n = L->out_size;
        g.k = n;
        g.a = input;
        g.lda = L->in_size;
        g.b = d;
        g.ldb = L->out_size;
        g.c = ln->g[L->w];
        g.ldc = L->out_size;
        tp_gemm(&g);
        if (L->b >= 0) column_sums(d, n, L->out_size, ln->g[L->b]);
        if (din) {
          gemm_args h = {0};
          h.trans_b = 1;
          h.m = n;
          h.n = L->in_size;
          h.k = L->out_size;
          h.a = d;
          h.lda = L->out_size;
          h.b = t->w[L->w];
          h.ldb = L->out_size;
          h.c = din;
          h.ldc = L->in_size;
          tp_gemm(&h);
        }
        break;
      }
      case TP_CONV: {
        conv_shape s = L->conv;
        s.batch = n;
        tp_conv2d_backprop_filter(&s, input, d, ln->g[L->w]);
        if (L->b >= 0) column_sums(d, n * s.out_h * s.out_w, s.out_c, ln->g[L->b]);
        if (din) tp_conv2d_backprop_input(&s, d, t->w[L->w], din);
        break;
      }
      case TP_POOL:
        if (din) pool_backward(L, n, input, d, din);
        break;
    }
  }
}

void tp_trainer_step(tp_trainer *t, const float *x, const int *labels, long n, double *loss, double *accuracy) {
  /* Lanes of at least 8 samples; one lane runs its kernels on all threads instead. */
  int lanes = t->nlanes;
  while (lanes > 1 && n / lanes < 8) lanes--;
  const long in = t->layers[0].in_size;
#pragma omp parallel for num_threads(lanes) if (lanes > 1) schedule(static, 1)
  for (int k = 0; k < lanes; k++) {
    const long r0 = n * k / lanes, r1 = n * (k + 1) / lanes;
    run_lane(t, &t->lanes[k], x + r0 * in, labels + r0, r1 - r0, n);
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
      float *g = t->g[p];
      const float *h = t->lanes[k].g[p];
      for (long j = 0; j < t->size[p]; j++) g[j] += h[j];
    }

  /* Masked Adam: pruned weights get no gradient (their moments stay zero) and stay exactly zero. */
  t->step++;
  const double c1 = 1.0 / (1.0 - pow((double)t->b1, (double)t->step));
  const double c2 = 1.0 / (1.0 - pow((double)t->b2, (double)t->step));
  for (int p = 0; p < t->nparams; p++) {
    const long size = t->size[p];
    float *g = t->g[p], *w = t->w[p];
    const float *mask = t->mask[p];
    if (mask)
      for (long j = 0; j < size; j++) g[j] *= mask[j];
    tp_adam(size, w, g, t->m[p], t->v[p], w, t->m[p], t->v[p], t->lr, t->b1, t->b2, t->eps, (float)c1, (float)c2);
    if (mask)
      for (long j = 0; j < size; j++) w[j] *= mask[j];
  }
}
