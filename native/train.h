/*
 * A whole training step (forward, softmax cross-entropy, backward, masked Adam) for plain chains of
 * Dense / Conv2D / MaxPool2D / Flatten layers, in one native call: the per-op overhead of a
 * JavaScript framework (~100 kernel launches a step) is what limits small models.
 */
#ifndef TOPIARY_TRAIN_H
#define TOPIARY_TRAIN_H

#include "gemm.h"

enum { TP_DENSE = 1, TP_CONV = 2, TP_POOL = 3, TP_FLATTEN = 4 };

/* Integers per layer in the description passed to tp_trainer_create. */
#define TP_LAYER_CODE 24

/*
 * Layer description, TP_LAYER_CODE ints each:
 *  [0] kind, [1] relu, [2] softmax (last layer only), [3] weight param index (-1: none),
 *  [4] bias param index (-1: none), [5] values per sample in, [6] values per sample out,
 *  Dense:  nothing more (in -> out units; weight in x out, row-major)
 *  Conv2D: [7..20] inH, inW, inC, filterH, filterW, outC, outH, outW, strideH, strideW,
 *          dilationH, dilationW, padTop, padLeft (NHWC; filter [fh, fw, inC, outC])
 *  MaxPool:[7..17] inH, inW, C, outH, outW, poolH, poolW, strideH, strideW, padTop, padLeft
 */
typedef struct tp_trainer tp_trainer;

/* NULL with *err set when the description is inconsistent. */
tp_trainer *tp_trainer_create(int nlayers, const int *codes, int nparams, const long *param_sizes, int probs, double lr, double beta1,
                              double beta2, double epsilon, const char **err);
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
 */
void tp_trainer_step(tp_trainer *t, const float *x, const int *labels, long n, double *loss, double *accuracy);

#endif
