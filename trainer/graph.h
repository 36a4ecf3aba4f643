/*
 * trainer/graph.h - a network built from an architecture, with explicit
 * forward and backward passes over a backend (llm.c discipline, ggml shape).
 *
 * nas_net_new turns a nas_arch into a flat list of layers with fixed shapes
 * (built once), allocates every parameter, activation and gradient buffer on
 * the backend for batches up to max_batch, and initialises the parameters
 * (PyTorch's defaults: conv/fc weights kaiming-uniform(a=sqrt(5)), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)); fc/SE biases U(-1/sqrt(fan_in), ..);
 * BN gamma 1, beta 0, running mean 0, running var 1), from a seed.
 *
 * Block structures follow shared/reference/models.md exactly (GENet XX/BL/DW
 * with c_mid = round(width*ratio) and ReLU after the add; GPUNet conv stages
 * without skip, Fused-IRB with the timm padding quirk, IRB, SE; tail conv +
 * pool + dropout + fc). BN momentum is 0.1 (PyTorch's default), eps is
 * arch->bn_eps.
 *
 * ---- Contract for the training loop ----
 * One training step:
 *     nas_net_set_batch(net, images, labels, n, err);   // host NCHW float32 + int32
 *     nas_net_forward(net, n, NAS_MODE_TRAIN, err);      // logits
 *     nas_net_loss(net, label_smoothing, true, err);     // loss stats += , dlogits
 *     nas_net_backward(net, err);                        // grads of trainable params
 *     sgd over the trainable params (be->sgd_step with nas_param value/grad);
 * Evaluation: set_batch, forward(NAS_MODE_EVAL), nas_net_loss(.., false, ..);
 * then nas_net_read_stats (one download: loss sum, top1, top5, count since the
 * last nas_net_reset_stats).
 * Gradients are overwritten by each backward (no zeroing needed). Parameters
 * of frozen stages get no gradient (grad buffer left as is) and their BN runs
 * on running statistics without updating them, also in NAS_MODE_TRAIN.
 * Backward stops below the lowest trainable layer.
 *
 * Parameters (for the optimiser and for checkpoints) are enumerated with
 * nas_net_param_count / nas_net_param, in a stable order, with PyTorch-like
 * names and shapes; the layer names are those of space/cost.c's layers:
 *     stages.<stage>.<layer>.<module>.<tensor>   e.g. stages.3.1.conv_dw.weight,
 *     stages.3.1.bn_dw.running_mean, fc.weight, fc.bias
 * Modules per kind (each conv is followed by the BN named by replacing
 * "conv" with "bn"; the projection shortcut is "shortcut" + "bn_shortcut"):
 *     conv      : conv, bn
 *     xx        : conv1, bn1, conv2, bn2                      [+ shortcut, bn_shortcut]
 *     bl, dw    : conv1, bn1, conv2 (k x k / depthwise), bn2, conv3, bn3 [+ shortcut...]
 *     fused_irb : conv_exp, bn_exp, [se.conv_reduce, se.conv_expand], conv_pwl, bn_pwl
 *     irb       : conv_pw, bn_pw, conv_dw, bn_dw, [se.conv_reduce, se.conv_expand],
 *                 conv_pwl, bn_pwl
 * Convs have .weight only; BN has weight, bias, running_mean, running_var
 * (running_* are NAS_PARAM_BUFFER: saved, never trained); SE convs have
 * weight [rd][mid][1][1] and bias. Checkpoint code: download value with
 * be->download into a host array of nas_param.count floats (PyTorch layout),
 * upload the same way.
 *
 * Latency: nas_net_fold_bn(net) computes conv weights with the eval BN folded
 * in (w' = w*gamma/sqrt(var+eps), b' = beta - mean*gamma/sqrt(var+eps)); then
 * nas_net_forward(net, n, NAS_MODE_FOLDED, err) runs conv+bias+act with no BN
 * (call fold again after the weights change). Time it with be->sync around.
 */
#ifndef NAS_TRAINER_GRAPH_H
#define NAS_TRAINER_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "space/arch.h"
#include "trainer/backend.h"

typedef struct nas_net nas_net;

typedef enum {
    NAS_MODE_TRAIN = 0, /* batch statistics, dropout on, saves what backward needs */
    NAS_MODE_EVAL,      /* running statistics, dropout off */
    NAS_MODE_FOLDED     /* like EVAL but BN folded into the convs (after nas_net_fold_bn) */
} nas_mode;

typedef enum {
    NAS_PARAM_WEIGHT = 0, /* conv / fc / SE weight: weight decay applies */
    NAS_PARAM_BIAS,       /* fc / SE bias: no decay */
    NAS_PARAM_BN_WEIGHT,  /* BN gamma: no decay */
    NAS_PARAM_BN_BIAS,    /* BN beta: no decay */
    NAS_PARAM_BUFFER      /* BN running_mean / running_var: saved, not trained */
} nas_param_kind;

typedef struct nas_param {
    const char *name;   /* stable PyTorch-like name, owned by the net */
    nas_param_kind kind;
    int ndim;           /* 1 (vectors), 2 (fc weight) or 4 (conv weights) */
    int shape[4];       /* PyTorch shape, first ndim entries used */
    size_t count;       /* number of floats */
    int stage;          /* index into arch->stages; -1 for the classifier */
    bool trainable;     /* false for BUFFERs and for frozen stages */
    bool decay;         /* kind == NAS_PARAM_WEIGHT */
    nas_buf *value;     /* PARAM buffer (owned by the net) */
    nas_buf *grad;      /* PARAM buffer of the same size; NULL for BUFFERs */
} nas_param;

typedef struct nas_loss_stats {
    double loss_sum; /* sum of per-image losses (with label smoothing) */
    double top1;     /* images whose label is the arg max */
    double top5;     /* images whose label is among the 5 largest logits */
    double count;    /* images */
} nas_loss_stats;

/* Builds the network. arch must be valid (nas_arch_validate); max_batch >= 1.
 * seed initialises the parameters deterministically. The backend must outlive
 * the net. Errors: NAS_EINVAL for shapes that collapse to zero (the message
 * names the stage), NAS_ENOMEM / NAS_EOOM_DEVICE when buffers do not fit. */
int nas_net_new(const nas_arch *arch, const nas_backend *be, int max_batch, uint64_t seed,
                nas_net **out, nas_err *err);
/* Frees every buffer and the net; NULL-safe; sets *net = NULL. */
void nas_net_free(nas_net **net);

const nas_arch *nas_net_arch(const nas_net *net);
const nas_backend *nas_net_backend(const nas_net *net);
int nas_net_max_batch(const nas_net *net);
int nas_net_classes(const nas_net *net);

/* Uploads n images (host float32, NCHW: n x in_channels x res x res) and, if
 * labels != NULL, n int32 labels in [0, classes). 1 <= n <= max_batch. */
int nas_net_set_batch(nas_net *net, const float *images, const int32_t *labels, int n,
                      nas_err *err);
/* The input ACT buffer, for callers that fill it with be->upload themselves. */
nas_buf *nas_net_input(nas_net *net);
/* The labels I32 buffer (max_batch entries). */
nas_buf *nas_net_labels(nas_net *net);

/* Runs the forward pass on the first n images of the input buffer. */
int nas_net_forward(nas_net *net, int n, nas_mode mode, nas_err *err);
/* Softmax cross-entropy of the last forward against the labels: adds to the
 * net's loss statistics; with want_grad also computes d(mean loss)/d(logits)
 * for nas_net_backward. */
int nas_net_loss(nas_net *net, float label_smoothing, bool want_grad, nas_err *err);
/* Backward pass of the last NAS_MODE_TRAIN forward: fills the grad buffer of
 * every trainable parameter. */
int nas_net_backward(nas_net *net, nas_err *err);

/* Downloads the statistics accumulated since the last reset (waits). */
int nas_net_read_stats(nas_net *net, nas_loss_stats *out, nas_err *err);
int nas_net_reset_stats(nas_net *net, nas_err *err);
/* Downloads the logits of the last forward (n x classes floats). */
int nas_net_read_logits(nas_net *net, float *out, int n, nas_err *err);

/* Parameters in a stable order (stage by stage, layer by layer, then fc). */
int nas_net_param_count(const nas_net *net);
const nas_param *nas_net_param(const nas_net *net, int index);
/* Index of a parameter by name, or -1. */
int nas_net_param_find(const nas_net *net, const char *name);
/* Sum of counts of trainable parameters, when nothing is frozen equal to
 * nas_cost_compute's params. */
int64_t nas_net_trainable_count(const nas_net *net);

/* Freezes or unfreezes a stage (stage = -1: the classifier). LLR-NAS's
 * train_only: freeze all, then unfreeze the listed stages. */
int nas_net_set_trainable(nas_net *net, int stage, bool trainable, nas_err *err);

/* Computes the BN-folded inference weights from the current parameters and
 * running statistics (allocated on first call). */
int nas_net_fold_bn(nas_net *net, nas_err *err);

#endif
