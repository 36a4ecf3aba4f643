/*
 * common/rng.h - a small, seedable, reproducible random generator.
 *
 * xoshiro256** seeded through splitmix64. Every strategy, sampler and the sim
 * evaluator take an explicit nas_rng so runs are reproducible from a seed and
 * no hidden global state exists. The state is plain data (save/load copy it).
 */
#ifndef NAS_COMMON_RNG_H
#define NAS_COMMON_RNG_H

#include <stdint.h>

typedef struct nas_rng {
    uint64_t s[4];
} nas_rng;

void nas_rng_seed(nas_rng *rng, uint64_t seed);
uint64_t nas_rng_u64(nas_rng *rng);
/* Uniform in [0, 1). */
double nas_rng_uniform(nas_rng *rng);
/* Uniform integer in [0, n); n > 0. */
uint64_t nas_rng_below(nas_rng *rng, uint64_t n);
/* Standard normal (Box-Muller). */
double nas_rng_normal(nas_rng *rng);
/* Fisher-Yates shuffle of n ints. */
void nas_rng_shuffle_int(nas_rng *rng, int *v, int n);
/* 64-bit mix of a value (splitmix64 finaliser), for deriving seeds and hashing. */
uint64_t nas_mix64(uint64_t x);
/* FNV-1a 64-bit hash of bytes. */
uint64_t nas_hash64(const void *data, uint64_t len);

#endif
