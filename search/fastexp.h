/*
 * search/fastexp.h - exp(x) that the compiler can vectorise.
 *
 * The GP's Matern kernel and the RBF SVMs spend a third of a lamcts-bo
 * proposal in libm's exp (bench/RESULTS.md, profile of 2026-12-04), one call
 * per kernel entry. libm's exp is an opaque call, so a loop over kernel
 * entries stays scalar; this inline version (round x/ln2 to k with the
 * 1.5*2^52 trick, a degree-13 Taylor polynomial on |r| <= ln2/2, the result
 * scaled by 2^k built from k's bits) has no branch or call and vectorises.
 * Accurate to a few units in the last place over the clamped range
 * [-708, 709] (tests/test_search_gp.c checks it against libm); below -708 it
 * returns exp(-708) ~ 3e-308 instead of a subnormal or 0, which no kernel
 * sum can tell apart.
 */
#ifndef NAS_SEARCH_FASTEXP_H
#define NAS_SEARCH_FASTEXP_H

#include <stdint.h>
#include <string.h>

static inline double nas_exp(double x) {
    const double shifter = 0x1.8p52; /* adding it rounds to an integer kept in the low bits */
    const double ln2_hi = 0x1.62e42fefa3800p-1, ln2_lo = 0x1.ef35793c76730p-45;
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    double t = x * 0x1.71547652b82fep0 + shifter; /* x / ln2 + shifter */
    double k = t - shifter;
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    sb = (tb - 0x4338000000000000ULL + 1023u) << 52; /* 2^k */
    double s;
    memcpy(&s, &sb, sizeof s);
    return p * s;
}

#endif
