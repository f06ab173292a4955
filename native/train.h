/*
 * A whole training step (forward, softmax cross-entropy, backward, masked Adam) for a model given
 * as a graph of nodes in topological order, in one native call: the per-op overhead of a
 * JavaScript framework (~100-2,500 kernel launches a step) is what limits small models. A plain
 * chain (LeNet) is the graph whose every node reads the one before it.
 */
#ifndef TOPIARY_TRAIN_H
#define TOPIARY_TRAIN_H

#include "gemm.h"

enum {
  TP_DENSE = 1,
  TP_CONV = 2,
  TP_MAXPOOL = 3,
  TP_IDENTITY = 4, /* Flatten, Reshape, zero-rate Dropout, a final softmax: same values, same order */
  TP_DEPTHWISE = 5,
  TP_BATCHNORM = 6,
  TP_ACTIVATION = 7,
  TP_ADD = 8,
  TP_PAD = 9,
  TP_AVGPOOL = 10,
  TP_GAP = 11
};

/* Activations a node applies to its output. */
enum { TP_LINEAR = 0, TP_RELU = 1, TP_RELU6 = 2 };

/* Integers per node in the description passed to tp_trainer_create, and its fields. */
#define TP_NODE_CODE 32
#define TP_MAX_INPUTS 8
#define TP_GEOMETRY_AT 18

/*
 * Node description, TP_NODE_CODE ints each:
 *  [0] kind, [1] activation (TP_LINEAR/RELU/RELU6), [2] softmax (last node only: the loss applies it),
 *  [3..6] parameter indices (-1: none): Dense/Conv2D/Depthwise: kernel, bias;
 *         BatchNorm: gamma, beta, moving mean, moving variance (the last two are not trained),
 *  [7] values per sample in (of input 0), [8] values per sample out,
 *  [9] number of inputs, [10..17] input node indices (-1: the model input; all before this node),
 *  [18..31] geometry:
 *   Dense:     nothing (in -> out units; kernel in x out, row-major)
 *   Conv2D:    inH, inW, inC, filterH, filterW, outC, outH, outW, strideH, strideW, dilationH,
 *              dilationW, padTop, padLeft (NHWC; kernel [fh, fw, inC, outC])
 *   Depthwise: the same, outC = inC (depth multiplier 1; kernel [fh, fw, C, 1])
 *   Max/AvgPool: inH, inW, C, outH, outW, poolH, poolW, strideH, strideW, padTop, padLeft
 *   BatchNorm: C (the last axis; statistics over all the others and the batch)
 *   Pad:       inH, inW, C, top, bottom, left, right
 *   GAP:       inH, inW, C
 * reals: 2 doubles per node; BatchNorm: 1 - momentum, epsilon.
 */
typedef struct tp_trainer tp_trainer;

/* NULL with *err set when the description is inconsistent. */
tp_trainer *tp_trainer_create(int nnodes, const int *codes, const double *reals, int nparams, const long *param_sizes, int probs, double lr,
                              double beta1, double beta2, double epsilon, const char **err);
void tp_trainer_free(tp_trainer *t);
int tp_trainer_nparams(const tp_trainer *t);
long tp_trainer_param_size(const tp_trainer *t, int p);
long tp_trainer_input_size(const tp_trainer *t);
long tp_trainer_classes(const tp_trainer *t);
void tp_trainer_set_param(tp_trainer *t, int p, const float *values);
void tp_trainer_get_param(const tp_trainer *t, int p, float *values);
/* Keep-mask for a parameter (copied), or NULL to remove it. */
void tp_trainer_set_mask(tp_trainer *t, int p, const float *mask);
/*
 * One Adam step on a batch of n samples (labels 0..classes-1, checked by the caller).
 * Writes the batch's mean loss and accuracy, as the model saw them before the update.
 * BatchNorm nodes normalise with the batch's statistics and update their moving ones. 0, or -1
 * when memory for the activations ran out (nothing changed).
 */
int tp_trainer_step(tp_trainer *t, const float *x, const int *labels, long n, double *loss, double *accuracy);
/*
 * The model's output for n samples (n x classes into out: probabilities when the last node has
 * softmax), in inference mode: BatchNorm uses its moving statistics and updates nothing. 0, or -1
 * when memory for the activations ran out.
 */
int tp_trainer_predict(tp_trainer *t, const float *x, long n, float *out);
/* Bytes of activation memory the trainer holds now (grows with the largest batch seen). */
long tp_trainer_bytes(const tp_trainer *t);

#endif
