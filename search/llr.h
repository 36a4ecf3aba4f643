/*
 * search/llr.h - LLR-NAS pieces that are worth testing on their own.
 *
 * The strategy itself is in llr.c (registered as "llr" in strategy.c).
 */
#ifndef NAS_SEARCH_LLR_H
#define NAS_SEARCH_LLR_H

#include <stdbool.h>

/* Least squares for the pseudo-gradient of one (super-block, block type):
 * g1 * dd[j] + g2 * dc[j] (+ b) ~ y[j], where dd and dc are the depth and width
 * changes from the MasterNet and y the accuracy change. With intercept the
 * type differs from the MasterNet's (so the same depth and width is another
 * network); without, the fit passes through the MasterNet as in the paper.
 * A tiny ridge keeps degenerate designs (e.g. every variant of one depth)
 * solvable: the unidentified coefficient goes to 0. Writes {g1, g2, b}. */
void nas_llr_fit(const double *dd, const double *dc, const double *y, int n, bool intercept,
                 double coef[3]);

#endif
