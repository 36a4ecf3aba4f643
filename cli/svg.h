/*
 * cli/svg.h - the `nas pareto --svg` plot: all results as a scatter, the
 * Pareto front as a step line, labelled axes with "nice" ticks.
 *
 * Self-contained SVG 1.1 (no scripts, no external fonts or CSS), so it opens in
 * any browser and embeds in reports. At 1e6 results a circle per result would
 * give a 60 MB file that no viewer draws quickly, so results falling on the
 * same half-pixel of the plot are drawn once (they are indistinguishable on
 * screen); the title says how many results were plotted in total. Front points
 * are always drawn, one each.
 */
#ifndef NAS_CLI_SVG_H
#define NAS_CLI_SVG_H

#include <stdio.h>

#include "cli/pareto.h"
#include "common/error.h"

typedef struct nas_svg_labels {
    const char *title;   /* e.g. "demo: top-1 vs latency@1 (sim)" */
    const char *x_label; /* e.g. "latency (ms, batch 1)" */
    const char *y_label; /* e.g. "top-1 (%)" */
} nas_svg_labels;

/* Nice tick step for a range: 1, 2 or 5 times a power of ten, giving about
 * target_ticks intervals. span must be > 0. */
double nas_svg_nice_step(double span, int target_ticks);

/*
 * Writes the plot of pts[0..n) with the front front_idx[0..n_front) (sorted by
 * increasing x, as nas_pareto_front returns it) to out. Labels are XML-escaped.
 * Returns 0, or NAS_EIO with a message naming what failed to write.
 */
int nas_svg_write_pareto(FILE *out, const nas_pareto_point *pts, size_t n, const size_t *front_idx,
                         size_t n_front, const nas_svg_labels *labels, nas_err *err);

#endif
