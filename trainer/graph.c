/*
 * trainer/graph.c - builds a nas_net from an architecture: layers, shapes,
 * parameters (names, initialisation, freezing) and the BN-folded inference
 * weights. Execution (forward, loss, backward) is in graph_exec.c.
 *
 * Each block kind expands into conv / bn / se nodes exactly as
 * shared/reference/models.md describes; shapes come from space/arch.h's
 * helpers (mid width, SE width, padding, shortcut kind) so the graph and the
 * cost model cannot disagree on them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/graph_internal.h"

/* ---- growable tables ---- */

static int grow(void **items, int *cap, int need, size_t size, nas_err *err)
{
    if (need <= *cap)
        return 0;
    int new_cap = *cap ? *cap * 2 : 32;
    while (new_cap < need)
        new_cap *= 2;
    void *p = realloc(*items, (size_t)new_cap * size);
    if (!p)
        return nas_err_set(err, NAS_ENOMEM, "network graph: out of memory");
    memset((char *)p + (size_t)*cap * size, 0, (size_t)(new_cap - *cap) * size);
    *items = p;
    *cap = new_cap;
    return 0;
}

/* Adds an activation tensor; its gradient buffer (unless it is the input)
 * comes later from plan_gradients. */
static int add_tensor(nas_net *net, int c, int h, int w, bool with_grad, int *out, nas_err *err)
{
    int rc = grow((void **)&net->tensors, &net->cap_tensors, net->n_tensors + 1,
                  sizeof(net_tensor), err);
    if (rc < 0)
        return rc;
    net_tensor *t = &net->tensors[net->n_tensors];
    t->c = c;
    t->h = h;
    t->w = w;
    nas_shape shape = {net->max_batch, c, h, w};
    t->wants_grad = with_grad;
    rc = net->be->buf_new(net->be, NAS_BUF_ACT, shape, &t->val, err);
    if (rc < 0)
        return rc; /* freed with the net: n_tensors counts it below */
    *out = net->n_tensors++;
    return 0;
}

static int add_node(nas_net *net, node_op op, int stage, int in, net_node **out, nas_err *err)
{
    int rc = grow((void **)&net->nodes, &net->cap_nodes, net->n_nodes + 1, sizeof(net_node), err);
    if (rc < 0)
        return rc;
    net_node *n = &net->nodes[net->n_nodes++];
    n->op = op;
    n->stage = stage;
    n->in = in;
    n->out = -1;
    n->bn_node = -1;
    n->residual = -1;
    n->weight = n->gamma = n->beta = n->running_mean = n->running_var = -1;
    n->se_w1 = n->se_b1 = n->se_w2 = n->se_b2 = n->fc_w = n->fc_b = -1;
    *out = n;
    return 0;
}

/* Adds a parameter named "<prefix>.<tensor>"; the value buffer is allocated
 * here, the grad buffer for trainable kinds. */
static int add_param(nas_net *net, const char *prefix, const char *tensor, nas_param_kind kind,
                     int ndim, const int *shape, int stage, int *out, nas_err *err)
{
    int rc = grow((void **)&net->params, &net->cap_params, net->n_params + 1, sizeof(nas_param),
                  err);
    if (rc < 0)
        return rc;
    nas_param *p = &net->params[net->n_params];
    size_t len = strlen(prefix) + strlen(tensor) + 2;
    char *name = malloc(len);
    if (!name)
        return nas_err_set(err, NAS_ENOMEM, "network graph: out of memory");
    snprintf(name, len, "%s.%s", prefix, tensor);
    p->name = name;
    p->kind = kind;
    p->ndim = ndim;
    p->count = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->count *= (size_t)shape[i];
    }
    p->stage = stage;
    p->trainable = kind != NAS_PARAM_BUFFER;
    p->decay = kind == NAS_PARAM_WEIGHT;
    net->n_params++; /* counted now so that nas_net_free releases partial work */
    nas_shape bshape = {(int)p->count, 1, 1, 1};
    if (ndim == 4)
        bshape = (nas_shape){shape[0], shape[1], shape[2], shape[3]};
    else if (ndim == 2)
        bshape = (nas_shape){shape[0], shape[1], 1, 1};
    rc = net->be->buf_new(net->be, NAS_BUF_PARAM, bshape, &p->value, err);
    if (rc == 0 && p->trainable)
        rc = net->be->buf_new(net->be, NAS_BUF_PARAM, bshape, &p->grad, err);
    if (rc < 0)
        return rc;
    *out = net->n_params - 1;
    return 0;
}

/* Fills a parameter on the host and uploads it. */
static int init_param(nas_net *net, int index, double bound, double constant, nas_err *err)
{
    nas_param *p = &net->params[index];
    float *host = malloc(p->count * sizeof(float));
    if (!host)
        return nas_err_set(err, NAS_ENOMEM, "network graph: out of memory initialising %s",
                           p->name);
    for (size_t i = 0; i < p->count; i++)
        host[i] = bound > 0.0 ? (float)((2.0 * nas_rng_uniform(&net->rng) - 1.0) * bound)
                              : (float)constant;
    int rc = net->be->upload(net->be, p->value, host, p->count, err);
    free(host);
    return rc;
}

/* Conv node + its weight; the output tensor is new. */
static int build_conv(nas_net *net, int stage, const char *prefix, const char *name, int in,
                      int c_out, int kernel, int stride, int pad, int groups, int *out,
                      nas_err *err)
{
    const net_tensor *x = &net->tensors[in];
    nas_conv_desc d = {.c_in = x->c, .c_out = c_out, .groups = groups, .kernel = kernel,
                       .stride = stride, .pad = pad, .h_in = x->h, .w_in = x->w};
    d.h_out = nas_conv_out_size(x->h, kernel, stride, pad);
    d.w_out = nas_conv_out_size(x->w, kernel, stride, pad);
    if (d.h_out < 1 || d.w_out < 1)
        return nas_err_set(err, NAS_EINVAL, "%s.%s: a %dx%d input is too small for a %dx%d conv "
                           "with stride %d and padding %d; use a larger resolution", prefix, name,
                           x->h, x->w, kernel, kernel, stride, pad);
    char full[96];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    int shape[4] = {c_out, x->c / groups, kernel, kernel};
    int w_index = -1;
    int rc = add_param(net, full, "weight", NAS_PARAM_WEIGHT, 4, shape, stage, &w_index, err);
    if (rc < 0)
        return rc;
    rc = init_param(net, w_index, 1.0 / sqrt((double)shape[1] * kernel * kernel), 0.0, err);
    if (rc < 0)
        return rc;
    int y = -1;
    if ((rc = add_tensor(net, c_out, d.h_out, d.w_out, true, &y, err)) < 0)
        return rc;
    net_node *n;
    if ((rc = add_node(net, NODE_CONV, stage, in, &n, err)) < 0)
        return rc;
    n->out = y;
    n->desc = d;
    n->weight = w_index;
    rc = net->be->conv_plan_new(net->be, &d, net->max_batch, &n->plan, err);
    if (rc < 0)
        return nas_err_prefix(err, "%s", full);
    *out = y;
    return 0;
}

/* BN node after the conv that produced tensor `in`; residual may be -1. */
static int build_bn(nas_net *net, int stage, const char *prefix, const char *name, int in,
                    int residual, nas_actfn act, int *out, nas_err *err)
{
    const net_tensor *x = &net->tensors[in];
    int c = x->c, h = x->h, w = x->w;
    char full[96];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    int shape[1] = {c};
    int gamma = -1, beta = -1, rmean = -1, rvar = -1, rc;
    if ((rc = add_param(net, full, "weight", NAS_PARAM_BN_WEIGHT, 1, shape, stage, &gamma, err)) <
            0 ||
        (rc = add_param(net, full, "bias", NAS_PARAM_BN_BIAS, 1, shape, stage, &beta, err)) < 0 ||
        (rc = add_param(net, full, "running_mean", NAS_PARAM_BUFFER, 1, shape, stage, &rmean,
                        err)) < 0 ||
        (rc = add_param(net, full, "running_var", NAS_PARAM_BUFFER, 1, shape, stage, &rvar, err)) <
            0)
        return rc;
    if ((rc = init_param(net, gamma, 0.0, 1.0, err)) < 0 ||
        (rc = init_param(net, beta, 0.0, 0.0, err)) < 0 ||
        (rc = init_param(net, rmean, 0.0, 0.0, err)) < 0 ||
        (rc = init_param(net, rvar, 0.0, 1.0, err)) < 0)
        return rc;
    int y = -1;
    if ((rc = add_tensor(net, c, h, w, true, &y, err)) < 0)
        return rc;
    int conv_node = net->n_nodes - 1; /* the conv that produced `in` */
    net_node *n;
    if ((rc = add_node(net, NODE_BN, stage, in, &n, err)) < 0)
        return rc;
    n->out = y;
    n->residual = residual;
    n->act = act;
    n->gamma = gamma;
    n->beta = beta;
    n->running_mean = rmean;
    n->running_var = rvar;
    nas_shape vec = {c, 1, 1, 1};
    if ((rc = net->be->buf_new(net->be, NAS_BUF_F32, vec, &n->save_mean, err)) < 0 ||
        (rc = net->be->buf_new(net->be, NAS_BUF_F32, vec, &n->save_invstd, err)) < 0)
        return rc;
    if (conv_node >= 0 && net->nodes[conv_node].op == NODE_CONV && net->nodes[conv_node].out == in)
        net->nodes[conv_node].bn_node = net->n_nodes - 1;
    *out = y;
    return 0;
}

static int build_conv_bn(nas_net *net, int stage, const char *prefix, const char *conv_name,
                         int in, int c_out, int kernel, int stride, int pad, int groups,
                         int residual, nas_actfn act, int *out, nas_err *err)
{
    char bn_name[48];
    if (strncmp(conv_name, "conv", 4) == 0)
        snprintf(bn_name, sizeof bn_name, "bn%s", conv_name + 4);
    else
        snprintf(bn_name, sizeof bn_name, "bn_%s", conv_name);
    int conv_out = -1;
    int rc = build_conv(net, stage, prefix, conv_name, in, c_out, kernel, stride, pad, groups,
                        &conv_out, err);
    if (rc < 0)
        return rc;
    return build_bn(net, stage, prefix, bn_name, conv_out, residual, act, out, err);
}

/* A dense layer's weight [out][in] (+ bias), initialised like nn.Linear. */
static int build_dense_params(nas_net *net, int stage, const char *module, int in, int out,
                              bool conv_shape, int *w, int *b, nas_err *err)
{
    int shape4[4] = {out, in, 1, 1};
    int rc = add_param(net, module, "weight", NAS_PARAM_WEIGHT, conv_shape ? 4 : 2, shape4, stage,
                       w, err);
    if (rc < 0)
        return rc;
    int bshape[1] = {out};
    if ((rc = add_param(net, module, "bias", NAS_PARAM_BIAS, 1, bshape, stage, b, err)) < 0)
        return rc;
    double bound = 1.0 / sqrt((double)in);
    if ((rc = init_param(net, *w, bound, 0.0, err)) < 0)
        return rc;
    return init_param(net, *b, bound, 0.0, err);
}

static int build_se(nas_net *net, int stage, const char *prefix, int in, int rd, nas_actfn act,
                    int *out, nas_err *err)
{
    const net_tensor *x = &net->tensors[in];
    int c = x->c, h = x->h, w = x->w, rc;
    char module[96];
    int w1 = -1, b1 = -1, w2 = -1, b2 = -1;
    snprintf(module, sizeof module, "%s.se.conv_reduce", prefix);
    if ((rc = build_dense_params(net, stage, module, c, rd, true, &w1, &b1, err)) < 0)
        return rc;
    snprintf(module, sizeof module, "%s.se.conv_expand", prefix);
    if ((rc = build_dense_params(net, stage, module, rd, c, true, &w2, &b2, err)) < 0)
        return rc;
    int pooled = -1, reduced = -1, reduced_act = -1, expanded = -1, gate = -1, y = -1;
    if ((rc = add_tensor(net, c, 1, 1, true, &pooled, err)) < 0 ||
        (rc = add_tensor(net, rd, 1, 1, true, &reduced, err)) < 0 ||
        (rc = add_tensor(net, rd, 1, 1, true, &reduced_act, err)) < 0 ||
        (rc = add_tensor(net, c, 1, 1, true, &expanded, err)) < 0 ||
        (rc = add_tensor(net, c, 1, 1, true, &gate, err)) < 0 ||
        (rc = add_tensor(net, c, h, w, true, &y, err)) < 0)
        return rc;
    net_node *n;
    if ((rc = add_node(net, NODE_SE, stage, in, &n, err)) < 0)
        return rc;
    n->out = y;
    n->act = act;
    n->se_rd = rd;
    n->se_pooled = pooled;
    n->se_reduced = reduced;
    n->se_reduced_act = reduced_act;
    n->se_expanded = expanded;
    n->se_gate = gate;
    n->se_w1 = w1;
    n->se_b1 = b1;
    n->se_w2 = w2;
    n->se_b2 = b2;
    *out = y;
    return 0;
}

static nas_actfn stage_act(const nas_stage *s)
{
    return s->act == NAS_ACT_SWISH ? NAS_ACTFN_SWISH : NAS_ACTFN_RELU;
}

/* One layer (index j) of stage i; `in` is its input tensor, *out its output. */
static int build_layer(nas_net *net, int i, int j, int in, int *out, nas_err *err)
{
    const nas_stage *s = &net->arch.stages[i];
    char prefix[48];
    snprintf(prefix, sizeof prefix, "stages.%d.%d", i, j);
    int c_in = net->tensors[in].c, c_out = s->width, k = s->kernel;
    int stride = j == 0 ? s->stride : 1;
    int pad = nas_stage_padding(s, stride), pad1 = nas_stage_padding(s, 1);
    int mid = nas_stage_mid_width(s, c_in);
    nas_actfn act = stage_act(s);
    nas_shortcut sc = nas_layer_shortcut(s, c_in, stride);
    int rc, t = -1, t2 = -1, residual = -1;

    if (sc == NAS_SHORTCUT_IDENTITY)
        residual = in;
    if (sc == NAS_SHORTCUT_PROJECTION &&
        (rc = build_conv_bn(net, i, prefix, "shortcut", in, c_out, 1, stride, 0, 1, -1,
                            NAS_ACTFN_NONE, &residual, err)) < 0)
        return rc;
    switch (s->kind) {
    case NAS_BLOCK_CONV:
        return build_conv_bn(net, i, prefix, "conv", in, c_out, k, stride, pad, 1, -1, act, out,
                             err);
    case NAS_BLOCK_XX: /* ReLU after the add: the act of the last BN */
        if ((rc = build_conv_bn(net, i, prefix, "conv1", in, mid, k, stride, pad, 1, -1, act, &t,
                                err)) < 0)
            return rc;
        return build_conv_bn(net, i, prefix, "conv2", t, c_out, k, 1, pad1, 1, residual, act, out,
                             err);
    case NAS_BLOCK_BL:
    case NAS_BLOCK_DW:
        if ((rc = build_conv_bn(net, i, prefix, "conv1", in, mid, 1, 1, 0, 1, -1, act, &t, err)) <
                0 ||
            (rc = build_conv_bn(net, i, prefix, "conv2", t, mid, k, stride, pad,
                                s->kind == NAS_BLOCK_DW ? mid : 1, -1, act, &t2, err)) < 0)
            return rc;
        return build_conv_bn(net, i, prefix, "conv3", t2, c_out, 1, 1, 0, 1, residual, act, out,
                             err);
    case NAS_BLOCK_FUSED_IRB:
        if ((rc = build_conv_bn(net, i, prefix, "conv_exp", in, mid, k, stride, pad, 1, -1, act,
                                &t, err)) < 0)
            return rc;
        if (s->se && (rc = build_se(net, i, prefix, t, nas_stage_se_width(s, mid), act, &t, err)) <
                         0)
            return rc;
        return build_conv_bn(net, i, prefix, "conv_pwl", t, c_out, 1, 1, 0, 1, residual,
                             NAS_ACTFN_NONE, out, err);
    case NAS_BLOCK_IRB:
        if ((rc = build_conv_bn(net, i, prefix, "conv_pw", in, mid, 1, 1, 0, 1, -1, act, &t,
                                err)) < 0 ||
            (rc = build_conv_bn(net, i, prefix, "conv_dw", t, mid, k, stride, pad, mid, -1, act,
                                &t, err)) < 0)
            return rc;
        if (s->se && (rc = build_se(net, i, prefix, t, nas_stage_se_width(s, mid), act, &t, err)) <
                         0)
            return rc;
        return build_conv_bn(net, i, prefix, "conv_pwl", t, c_out, 1, 1, 0, 1, residual,
                             NAS_ACTFN_NONE, out, err);
    default:
        return nas_err_set(err, NAS_EINVAL, "stage %d: unknown block kind %d", i, (int)s->kind);
    }
}

/* Pool -> dropout -> fc. */
static int build_head(nas_net *net, int in, nas_err *err)
{
    const net_tensor *x = &net->tensors[in];
    int c = x->c, rc, pooled = -1, cur;
    net_node *n;
    if ((rc = add_tensor(net, c, 1, 1, true, &pooled, err)) < 0 ||
        (rc = add_node(net, NODE_POOL, -1, in, &n, err)) < 0)
        return rc;
    n->out = pooled;
    cur = pooled;
    if (net->arch.dropout > 0.0) {
        int dropped = -1;
        if ((rc = add_tensor(net, c, 1, 1, true, &dropped, err)) < 0 ||
            (rc = add_node(net, NODE_DROPOUT, -1, cur, &n, err)) < 0)
            return rc;
        n->out = dropped;
        n->drop_p = (float)net->arch.dropout;
        nas_shape shape = {net->max_batch * c, 1, 1, 1};
        if ((rc = net->be->buf_new(net->be, NAS_BUF_F32, shape, &n->mask, err)) < 0)
            return rc;
        cur = dropped;
    }
    int w = -1, b = -1, logits = -1;
    if ((rc = build_dense_params(net, -1, "fc", c, net->arch.classes, false, &w, &b, err)) < 0 ||
        (rc = add_tensor(net, net->arch.classes, 1, 1, true, &logits, err)) < 0 ||
        (rc = add_node(net, NODE_FC, -1, cur, &n, err)) < 0)
        return rc;
    n->out = logits;
    n->fc_w = w;
    n->fc_b = b;
    net->logits = logits;
    return 0;
}

/* ---- gradient memory plan ----
 * Backward runs the nodes in reverse, so the gradient of a tensor is live
 * from the backward step of its last consumer (the first to write it) to the
 * step of its producer (the last to read it); the logits' gradient is written
 * by the loss, before step 0. Tensors whose intervals do not overlap share a
 * buffer: at each step the tensors that start there take the smallest free
 * buffer that is large enough (or a new one), and the tensors whose producer
 * ran give theirs back. This roughly halves the gradient memory of a deep
 * network, which is what bounds the batch on a GPU. */

static int pool_take(nas_net *net, bool *busy, size_t need, nas_shape shape, nas_buf **out,
                     nas_err *err)
{
    int best = -1;
    for (int i = 0; i < net->n_grad_pool; i++) {
        size_t cap = net->grad_pool_cap[i];
        if (!busy[i] && cap >= need && (best < 0 || cap < net->grad_pool_cap[best]))
            best = i;
    }
    if (best < 0) {
        size_t n = (size_t)net->n_grad_pool + 1;
        nas_buf **grown = realloc(net->grad_pool, n * sizeof(*grown));
        if (grown)
            net->grad_pool = grown;
        size_t *caps = grown ? realloc(net->grad_pool_cap, n * sizeof(*caps)) : NULL;
        if (!caps)
            return nas_err_set(err, NAS_ENOMEM, "network graph: out of memory");
        net->grad_pool_cap = caps;
        caps[n - 1] = need;
        net->grad_pool[n - 1] = NULL;
        int rc = net->be->buf_new(net->be, NAS_BUF_ACT, shape, &net->grad_pool[net->n_grad_pool],
                                  err);
        if (rc < 0)
            return rc;
        best = net->n_grad_pool++;
    }
    busy[best] = true;
    *out = net->grad_pool[best];
    return 0;
}

static int plan_gradients(nas_net *net, nas_err *err)
{
    int nt = net->n_tensors, nn = net->n_nodes, rc = 0;
    int *start = malloc((size_t)nt * sizeof(int)), *end = malloc((size_t)nt * sizeof(int));
    int *slot = malloc((size_t)nt * sizeof(int));
    bool *busy = calloc((size_t)nt + 1, sizeof(bool)); /* pool size <= tensors */
    if (!start || !end || !slot || !busy) {
        rc = nas_err_set(err, NAS_ENOMEM, "network graph: out of memory");
        goto done;
    }
    for (int t = 0; t < nt; t++) {
        start[t] = nn; /* never written: no buffer */
        end[t] = -2;
        slot[t] = -1;
    }
    /* backward step of node i is nn - 1 - i */
    for (int i = 0; i < nn; i++) {
        const net_node *nd = &net->nodes[i];
        int step = nn - 1 - i;
        int reads[8] = {nd->in, nd->residual, -1, -1, -1, -1, -1, -1};
        int writes[8] = {nd->out, -1, -1, -1, -1, -1, -1, -1};
        if (nd->op == NODE_SE) { /* its temporaries live inside its own step */
            int tmp[5] = {nd->se_pooled, nd->se_reduced, nd->se_reduced_act, nd->se_expanded,
                          nd->se_gate};
            for (int k = 0; k < 5; k++)
                reads[2 + k] = writes[1 + k] = tmp[k];
        }
        for (int k = 0; k < 8; k++) /* consumers: their step writes the gradient */
            if (reads[k] >= 0 && step < start[reads[k]])
                start[reads[k]] = step;
        for (int k = 0; k < 8; k++) /* producer: its step reads the gradient last */
            if (writes[k] >= 0 && step > end[writes[k]])
                end[writes[k]] = step;
    }
    start[net->logits] = -1; /* written by the loss */
    for (int step = -1; step < nn && rc == 0; step++) {
        for (int t = 0; t < nt && rc == 0; t++) {
            net_tensor *tt = &net->tensors[t];
            if (!tt->wants_grad || start[t] != step)
                continue;
            nas_shape shape = {net->max_batch, tt->c, tt->h, tt->w};
            rc = pool_take(net, busy, nas_shape_count(shape), shape, &tt->grad, err);
            for (int i = 0; rc == 0 && i < net->n_grad_pool; i++)
                if (net->grad_pool[i] == tt->grad)
                    slot[t] = i;
        }
        for (int t = 0; t < nt; t++)
            if (slot[t] >= 0 && end[t] == step)
                busy[slot[t]] = false;
    }
done:
    free(start);
    free(end);
    free(slot);
    free(busy);
    return rc;
}

int nas_net_new(const nas_arch *arch, const nas_backend *be, int max_batch, uint64_t seed,
                nas_net **out, nas_err *err)
{
    *out = NULL;
    int rc = nas_arch_validate(arch, err);
    if (rc < 0)
        return rc;
    if (max_batch < 1)
        return nas_err_set(err, NAS_EINVAL, "network graph: max batch %d must be at least 1",
                           max_batch);
    nas_net *net = calloc(1, sizeof(*net));
    if (!net)
        return nas_err_set(err, NAS_ENOMEM, "network graph: out of memory");
    net->arch = *arch;
    net->be = be;
    net->max_batch = max_batch;
    nas_rng_seed(&net->rng, seed);
    for (int i = 0; i <= NAS_ARCH_MAX_STAGES; i++)
        net->trainable[i] = true;

    int cur;
    rc = add_tensor(net, arch->in_channels, arch->resolution, arch->resolution, false, &cur, err);
    net->input = cur;
    for (int i = 0; rc == 0 && i < arch->n_stages; i++)
        for (int j = 0; rc == 0 && j < arch->stages[i].depth; j++)
            rc = build_layer(net, i, j, cur, &cur, err);
    if (rc == 0)
        rc = build_head(net, cur, err);
    if (rc == 0)
        rc = plan_gradients(net, err);
    nas_shape labels = {max_batch, 1, 1, 1}, stats = {NAS_LOSS_STATS, 1, 1, 1};
    if (rc == 0)
        rc = be->buf_new(be, NAS_BUF_I32, labels, &net->labels, err);
    if (rc == 0)
        rc = be->buf_new(be, NAS_BUF_F32, stats, &net->stats, err);
    if (rc == 0)
        rc = be->fill(be, net->stats, 0.0f, NAS_LOSS_STATS, err);
    if (rc < 0) {
        nas_net_free(&net);
        return rc;
    }
    *out = net;
    return 0;
}

void nas_net_free(nas_net **netp)
{
    if (!netp || !*netp)
        return;
    nas_net *net = *netp;
    const nas_backend *be = net->be;
    for (int i = 0; i < net->n_nodes; i++) {
        net_node *n = &net->nodes[i];
        if (n->plan)
            be->conv_plan_free(be, &n->plan);
        be->buf_free(be, &n->fold_w);
        be->buf_free(be, &n->fold_b);
        be->buf_free(be, &n->save_mean);
        be->buf_free(be, &n->save_invstd);
        be->buf_free(be, &n->mask);
    }
    for (int i = 0; i < net->n_tensors; i++)
        be->buf_free(be, &net->tensors[i].val);
    for (int i = 0; i < net->n_grad_pool; i++)
        be->buf_free(be, &net->grad_pool[i]);
    free(net->grad_pool);
    free(net->grad_pool_cap);
    for (int i = 0; i < net->n_params; i++) {
        free((char *)net->params[i].name);
        be->buf_free(be, &net->params[i].value);
        be->buf_free(be, &net->params[i].grad);
    }
    be->buf_free(be, &net->labels);
    be->buf_free(be, &net->stats);
    free(net->nodes);
    free(net->tensors);
    free(net->params);
    free(net);
    *netp = NULL;
}

const nas_arch *nas_net_arch(const nas_net *net) { return &net->arch; }
const nas_backend *nas_net_backend(const nas_net *net) { return net->be; }
int nas_net_max_batch(const nas_net *net) { return net->max_batch; }
int nas_net_classes(const nas_net *net) { return net->arch.classes; }
nas_buf *nas_net_input(nas_net *net) { return net->tensors[net->input].val; }
nas_buf *nas_net_labels(nas_net *net) { return net->labels; }

int nas_net_param_count(const nas_net *net) { return net->n_params; }

const nas_param *nas_net_param(const nas_net *net, int index)
{
    if (index < 0 || index >= net->n_params)
        return NULL;
    return &net->params[index];
}

int nas_net_param_find(const nas_net *net, const char *name)
{
    for (int i = 0; i < net->n_params; i++)
        if (strcmp(net->params[i].name, name) == 0)
            return i;
    return -1;
}

int64_t nas_net_trainable_count(const nas_net *net)
{
    int64_t total = 0;
    for (int i = 0; i < net->n_params; i++)
        if (net->params[i].trainable)
            total += (int64_t)net->params[i].count;
    return total;
}

bool net_stage_trainable(const nas_net *net, int stage) { return net->trainable[stage + 1]; }

int nas_net_set_trainable(nas_net *net, int stage, bool trainable, nas_err *err)
{
    if (stage < -1 || stage >= net->arch.n_stages)
        return nas_err_set(err, NAS_ERANGE, "train_only: stage %d does not exist (the "
                           "architecture has stages 0..%d; -1 is the classifier)", stage,
                           net->arch.n_stages - 1);
    net->trainable[stage + 1] = trainable;
    for (int i = 0; i < net->n_params; i++) {
        nas_param *p = &net->params[i];
        if (p->stage == stage && p->kind != NAS_PARAM_BUFFER)
            p->trainable = trainable;
    }
    return 0;
}

int nas_net_fold_bn(nas_net *net, nas_err *err)
{
    const nas_backend *be = net->be;
    int rc = 0;
    float *w = NULL, *gamma = NULL, *beta = NULL, *mean = NULL, *var = NULL, *bias = NULL;
    for (int i = 0; rc == 0 && i < net->n_nodes; i++) {
        net_node *cn = &net->nodes[i];
        if (cn->op != NODE_CONV || cn->bn_node < 0)
            continue;
        const net_node *bn = &net->nodes[cn->bn_node];
        const nas_param *wp = &net->params[cn->weight];
        int c = cn->desc.c_out;
        size_t per_out = wp->count / (size_t)c;
        if (!cn->fold_w) {
            nas_shape ws = {wp->shape[0], wp->shape[1], wp->shape[2], wp->shape[3]};
            nas_shape bs = {c, 1, 1, 1};
            if ((rc = be->buf_new(be, NAS_BUF_PARAM, ws, &cn->fold_w, err)) < 0 ||
                (rc = be->buf_new(be, NAS_BUF_PARAM, bs, &cn->fold_b, err)) < 0)
                break;
        }
        free(w);
        w = malloc(wp->count * sizeof(float));
        float *vecs = realloc(gamma, 5 * (size_t)c * sizeof(float));
        if (!w || !vecs) {
            free(vecs);
            gamma = NULL;
            rc = nas_err_set(err, NAS_ENOMEM, "fold BN: out of memory");
            break;
        }
        gamma = vecs;
        beta = gamma + c;
        mean = beta + c;
        var = mean + c;
        bias = var + c;
        if ((rc = be->download(be, wp->value, w, wp->count, err)) < 0 ||
            (rc = be->download(be, net->params[bn->gamma].value, gamma, c, err)) < 0 ||
            (rc = be->download(be, net->params[bn->beta].value, beta, c, err)) < 0 ||
            (rc = be->download(be, net->params[bn->running_mean].value, mean, c, err)) < 0 ||
            (rc = be->download(be, net->params[bn->running_var].value, var, c, err)) < 0)
            break;
        for (int o = 0; o < c; o++) {
            double scale = gamma[o] / sqrt((double)var[o] + net->arch.bn_eps);
            for (size_t j = 0; j < per_out; j++)
                w[(size_t)o * per_out + j] = (float)(w[(size_t)o * per_out + j] * scale);
            bias[o] = (float)(beta[o] - mean[o] * scale);
        }
        if ((rc = be->upload(be, cn->fold_w, w, wp->count, err)) < 0 ||
            (rc = be->upload(be, cn->fold_b, bias, c, err)) < 0)
            break;
    }
    free(w);
    free(gamma);
    net->folded = rc == 0;
    return rc;
}
