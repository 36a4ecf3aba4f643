/*
 * search/lhs.h - Latin hypercube designs in [0,1]^D.
 *
 * As LA-MCTS's latin_hypercube: cell centres (1+2i)/(2n), an independent
 * permutation per dimension, and a uniform jitter of half a cell either way,
 * so every one of the n slices of every axis holds exactly one point.
 */
#ifndef NAS_SEARCH_LHS_H
#define NAS_SEARCH_LHS_H

#include "common/rng.h"

/* Writes n points (n x dims, row-major) into out. Returns 0, or NAS_ENOMEM. */
int nas_lhs(nas_rng *rng, int n, int dims, double *out);

#endif
