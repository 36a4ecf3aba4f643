/*
 * trainer/graph_internal.h - the layer list behind nas_net, shared by
 * graph.c (construction, parameters, BN folding) and graph_exec.c (forward,
 * loss, backward). Private to the graph.
 *
 * The network is a flat list of nodes in execution order over a table of
 * activation tensors (ggml-style: built once, then only executed). A tensor
 * may be read by two nodes (a block input feeds the main branch and the
 * residual); backward sums its gradient through the backends' `accumulate`
 * flags: the first writer overwrites, later writers add (grad_written).
 */
#ifndef NAS_TRAINER_GRAPH_INTERNAL_H
#define NAS_TRAINER_GRAPH_INTERNAL_H

#include "common/rng.h"
#include "trainer/graph.h"

typedef enum {
    NODE_CONV = 0,
    NODE_BN,      /* act(bn(x) [+ residual]) */
    NODE_SE,      /* x * sigmoid(fc2(act(fc1(mean_hw(x))))) */
    NODE_POOL,
    NODE_DROPOUT,
    NODE_FC
} node_op;

typedef struct net_tensor {
    int c, h, w;
    nas_buf *val;      /* ACT (max_batch, c, h, w) */
    nas_buf *grad;     /* ACT from the gradient pool (not owned), NULL for the input */
    bool wants_grad;   /* everything but the input image */
    bool grad_written; /* during backward: some consumer already wrote grad */
} net_tensor;

typedef struct net_node {
    node_op op;
    int stage;    /* arch stage, -1 for the classifier head */
    int in, out;  /* tensor indices */
    nas_actfn act;

    /* CONV */
    nas_conv_desc desc;
    nas_conv_plan *plan;
    int weight;             /* param index */
    int bn_node;            /* the BN node folded into this conv, -1 if none */
    nas_buf *fold_w, *fold_b;

    /* BN */
    int residual;           /* tensor index added before the act, -1 if none */
    int gamma, beta, running_mean, running_var; /* param indices */
    nas_buf *save_mean, *save_invstd;           /* F32 (c) */
    bool ran_frozen;        /* the last forward used running statistics */

    /* SE: temporaries are tensors of shape (c or rd, 1, 1) */
    int se_rd;
    int se_pooled, se_reduced, se_reduced_act, se_expanded, se_gate; /* tensor indices */
    int se_w1, se_b1, se_w2, se_b2;                                  /* param indices */

    /* DROPOUT */
    float drop_p;
    nas_buf *mask;          /* F32 (max_batch * c) */
    bool dropped;           /* the last forward applied dropout */

    /* FC */
    int fc_w, fc_b;
} net_node;

struct nas_net {
    nas_arch arch;
    const nas_backend *be;
    int max_batch;
    nas_rng rng;  /* dropout seeds */

    net_tensor *tensors;
    int n_tensors, cap_tensors;
    net_node *nodes;
    int n_nodes, cap_nodes;
    nas_param *params;
    int n_params, cap_params;

    /* Gradient buffers, shared between tensors whose gradients are never
     * live at the same time during backward (see plan_gradients in graph.c). */
    nas_buf **grad_pool;
    size_t *grad_pool_cap; /* elements of each pool buffer */
    int n_grad_pool;

    int input;   /* tensor index of the image */
    int logits;  /* tensor index of the logits */
    nas_buf *labels; /* I32 (max_batch) */
    nas_buf *stats;  /* F32 (NAS_LOSS_STATS) */

    bool trainable[NAS_ARCH_MAX_STAGES + 1]; /* [stage + 1]; [0] is the classifier */

    int last_n;          /* batch of the last forward, 0 before the first */
    nas_mode last_mode;
    bool have_dlogits;   /* nas_net_loss computed the logits gradient */
    bool folded;         /* fold buffers hold the current weights */
};

/* Is the stage (or -1: classifier) trainable? The param flags mirror it. */
bool net_stage_trainable(const nas_net *net, int stage);

#endif
