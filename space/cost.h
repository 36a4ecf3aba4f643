/*
 * space/cost.h - exact cost model of an architecture, without building it.
 *
 * Walks the IR layer by layer and counts trainable parameters (conv weights,
 * BN weight+bias, SE and FC weights and biases), multiply-accumulates of conv
 * and linear layers (the convention of shared/reference/models.md: BN,
 * activations, pooling, adds and the SE mean are not counted), output shapes
 * and activation memory. It must reproduce the published figures exactly.
 */
#ifndef NAS_SPACE_COST_H
#define NAS_SPACE_COST_H

#include <stdint.h>

#include "common/error.h"
#include "space/arch.h"

typedef struct nas_layer_cost {
    char name[64];      /* e.g. "stages.3.1.conv_dw" */
    char op[16];        /* conv, dwconv, bn, fc, se, pool, ... */
    int c_in, c_out, kernel, stride, groups, padding;
    int h_in, w_in, h_out, w_out;
    int64_t params;
    int64_t macs;
    int64_t out_elems;  /* elements of the output tensor per image */
} nas_layer_cost;

typedef struct nas_cost {
    int64_t params;
    int64_t macs;
    int64_t activation_elems; /* sum of layer output elements per image */
    int n_layers;
    nas_layer_cost *layers;   /* malloc'd, n_layers entries */
} nas_cost;

/* Computes the cost at the arch's own resolution (override with resolution > 0). */
int nas_cost_compute(const nas_arch *a, int resolution, nas_cost *out, nas_err *err);
void nas_cost_release(nas_cost *c);

#endif
