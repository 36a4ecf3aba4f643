/* common/rng.c - see rng.h. */
#include "common/rng.h"

#include <assert.h>
#include <math.h>

uint64_t nas_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void nas_rng_seed(nas_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x = nas_mix64(x);
        rng->s[i] = x;
    }
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3])) rng->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nas_rng_u64(nas_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double nas_rng_uniform(nas_rng *rng) { return (double)(nas_rng_u64(rng) >> 11) * 0x1.0p-53; }

uint64_t nas_rng_below(nas_rng *rng, uint64_t n) {
    assert(n > 0);
    /* Rejection sampling: no modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do v = nas_rng_u64(rng);
    while (v >= limit);
    return v % n;
}

double nas_rng_normal(nas_rng *rng) {
    double u1 = nas_rng_uniform(rng), u2 = nas_rng_uniform(rng);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void nas_rng_shuffle_int(nas_rng *rng, int *v, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)nas_rng_below(rng, (uint64_t)i + 1);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

uint64_t nas_hash64(const void *data, uint64_t len) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint64_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
