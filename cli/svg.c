/*
 * cli/svg.c - SVG scatter + Pareto step line for `nas pareto`; see svg.h.
 *
 * Layout is fixed (900 x 600 with margins for labels) because the plot is for
 * people and reports, not for further processing; the data go to csv/json.
 */
#include "cli/svg.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    SVG_WIDTH = 900,
    SVG_HEIGHT = 600,
    MARGIN_LEFT = 80,
    MARGIN_RIGHT = 30,
    MARGIN_TOP = 50,
    MARGIN_BOTTOM = 70,
    PLOT_W = SVG_WIDTH - MARGIN_LEFT - MARGIN_RIGHT,
    PLOT_H = SVG_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM,
    CELLS_PER_PIXEL = 2 /* dedupe grid: half a pixel */
};

double nas_svg_nice_step(double span, int target_ticks) {
    if (!(span > 0) || target_ticks < 1) return 1.0;
    double raw = span / target_ticks;
    double magnitude = pow(10.0, floor(log10(raw)));
    double fraction = raw / magnitude;
    double nice = fraction <= 1.0 ? 1.0 : fraction <= 2.0 ? 2.0 : fraction <= 5.0 ? 5.0 : 10.0;
    return nice * magnitude;
}

/* Writes s with the five XML special characters escaped. */
static void write_escaped(FILE *out, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            /* Control characters are not allowed in XML 1.0 text. */
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') fputc(*s, out);
        }
    }
}

typedef struct axis {
    double lo, hi, step; /* data range covered, extended to whole ticks */
} axis;

static axis make_axis(double lo, double hi) {
    if (!(hi > lo)) { /* one value (or none): show a unit-wide window around it */
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.05 : 0.5;
        lo -= pad;
        hi += pad;
    }
    axis a;
    a.step = nas_svg_nice_step(hi - lo, 6);
    a.lo = floor(lo / a.step) * a.step;
    a.hi = ceil(hi / a.step) * a.step;
    return a;
}

static double to_px_x(const axis *a, double x) { return MARGIN_LEFT + (x - a->lo) / (a->hi - a->lo) * PLOT_W; }
static double to_px_y(const axis *a, double y) {
    return MARGIN_TOP + PLOT_H - (y - a->lo) / (a->hi - a->lo) * PLOT_H;
}

/* Prints a tick value without trailing zeros noise: enough decimals for step. */
static void format_tick(char *buf, size_t cap, double v, double step) {
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6) decimals = 6;
    if (fabs(v) < step * 1e-9) v = 0; /* avoid "-0" */
    snprintf(buf, cap, "%.*f", decimals, v);
}

static void write_axes(FILE *out, const axis *ax, const axis *ay, const nas_svg_labels *labels) {
    char tick[64];
    fprintf(out, "<g stroke=\"#ddd\" stroke-width=\"1\">\n");
    for (double v = ax->lo; v <= ax->hi + ax->step * 1e-6; v += ax->step)
        fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", to_px_x(ax, v), MARGIN_TOP,
                to_px_x(ax, v), MARGIN_TOP + PLOT_H);
    for (double v = ay->lo; v <= ay->hi + ay->step * 1e-6; v += ay->step)
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", MARGIN_LEFT, to_px_y(ay, v),
                MARGIN_LEFT + PLOT_W, to_px_y(ay, v));
    fprintf(out, "</g>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n",
            MARGIN_LEFT, MARGIN_TOP, PLOT_W, PLOT_H);
    fprintf(out, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#333\">\n");
    for (double v = ax->lo; v <= ax->hi + ax->step * 1e-6; v += ax->step) {
        format_tick(tick, sizeof tick, v, ax->step);
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", to_px_x(ax, v),
                MARGIN_TOP + PLOT_H + 18, tick);
    }
    for (double v = ay->lo; v <= ay->hi + ay->step * 1e-6; v += ay->step) {
        format_tick(tick, sizeof tick, v, ay->step);
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", MARGIN_LEFT - 6,
                to_px_y(ay, v) + 4, tick);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\">", MARGIN_LEFT + PLOT_W / 2,
            SVG_HEIGHT - 20);
    write_escaped(out, labels->x_label);
    fprintf(out, "</text>\n<text x=\"20\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\" "
                 "transform=\"rotate(-90 20 %d)\">",
            MARGIN_TOP + PLOT_H / 2, MARGIN_TOP + PLOT_H / 2);
    write_escaped(out, labels->y_label);
    fprintf(out, "</text>\n<text x=\"%d\" y=\"30\" text-anchor=\"middle\" font-size=\"16\">",
            SVG_WIDTH / 2);
    write_escaped(out, labels->title);
    fprintf(out, "</text>\n</g>\n");
}

int nas_svg_write_pareto(FILE *out, const nas_pareto_point *pts, size_t n, const size_t *front_idx,
                         size_t n_front, const nas_svg_labels *labels, nas_err *err) {
    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
    size_t plotted = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(pts[i].x) || !isfinite(pts[i].y)) continue;
        x_lo = fmin(x_lo, pts[i].x), x_hi = fmax(x_hi, pts[i].x);
        y_lo = fmin(y_lo, pts[i].y), y_hi = fmax(y_hi, pts[i].y);
        plotted++;
    }
    if (plotted == 0) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
    axis ax = make_axis(x_lo, x_hi), ay = make_axis(y_lo, y_hi);

    /* One bit per half-pixel cell of the plot area. */
    const size_t cols = (size_t)PLOT_W * CELLS_PER_PIXEL + 1, rows = (size_t)PLOT_H * CELLS_PER_PIXEL + 1;
    uint8_t *drawn = calloc((cols * rows + 7) / 8, 1);
    if (!drawn) return nas_err_set(err, NAS_ENOMEM, "out of memory preparing the SVG plot");

    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\">\n",
            SVG_WIDTH, SVG_HEIGHT, SVG_WIDTH, SVG_HEIGHT);
    fprintf(out, "<title>");
    write_escaped(out, labels->title);
    fprintf(out, " (%zu results, %zu on the front)</title>\n", plotted, n_front);
    fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    write_axes(out, &ax, &ay, labels);

    fprintf(out, "<g class=\"results\" fill=\"#4c78a8\" fill-opacity=\"0.45\">\n");
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(pts[i].x) || !isfinite(pts[i].y)) continue;
        double px = to_px_x(&ax, pts[i].x), py = to_px_y(&ay, pts[i].y);
        size_t col = (size_t)lround((px - MARGIN_LEFT) * CELLS_PER_PIXEL);
        size_t row = (size_t)lround((py - MARGIN_TOP) * CELLS_PER_PIXEL);
        if (col >= cols) col = cols - 1;
        if (row >= rows) row = rows - 1;
        size_t bit = row * cols + col;
        if (drawn[bit / 8] & (1u << (bit % 8))) continue;
        drawn[bit / 8] |= (uint8_t)(1u << (bit % 8));
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>\n", px, py);
    }
    fprintf(out, "</g>\n");
    free(drawn);

    if (n_front > 0) {
        /* Step line: from each front point go right at its score to the next
         * point's cost, then up; the last step runs to the right edge. This is
         * the boundary of the region the front dominates. */
        fprintf(out, "<polyline class=\"front\" fill=\"none\" stroke=\"#e45756\" stroke-width=\"2\" points=\"");
        for (size_t i = 0; i < n_front; i++) {
            const nas_pareto_point *p = &pts[front_idx[i]];
            double px = to_px_x(&ax, p->x), py = to_px_y(&ay, p->y);
            fprintf(out, "%.1f,%.1f ", px, py);
            double next_px = i + 1 < n_front ? to_px_x(&ax, pts[front_idx[i + 1]].x) : MARGIN_LEFT + PLOT_W;
            fprintf(out, "%.1f,%.1f%s", next_px, py, i + 1 < n_front ? " " : "");
        }
        fprintf(out, "\"/>\n<g class=\"front-points\" fill=\"#e45756\">\n");
        for (size_t i = 0; i < n_front; i++) {
            const nas_pareto_point *p = &pts[front_idx[i]];
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\"><title>job %lld: %g, %g</title></circle>\n",
                    to_px_x(&ax, p->x), to_px_y(&ay, p->y), (long long)p->id, p->x, p->y);
        }
        fprintf(out, "</g>\n");
    }
    /* Legend top-left: the one corner a Pareto plot leaves empty (low cost
     * with a high score is exactly what nothing achieved). */
    fprintf(out, "<g font-family=\"sans-serif\" font-size=\"12\">\n"
                 "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"#4c78a8\" fill-opacity=\"0.45\"/>"
                 "<text x=\"%d\" y=\"%d\">result</text>\n"
                 "<circle cx=\"%d\" cy=\"%d\" r=\"4.5\" fill=\"#e45756\"/>"
                 "<text x=\"%d\" y=\"%d\">Pareto front</text>\n</g>\n",
            MARGIN_LEFT + 14, MARGIN_TOP + 16, MARGIN_LEFT + 24, MARGIN_TOP + 20, MARGIN_LEFT + 14,
            MARGIN_TOP + 34, MARGIN_LEFT + 24, MARGIN_TOP + 38);
    fprintf(out, "</svg>\n");
    if (fflush(out) != 0 || ferror(out))
        return nas_err_set(err, NAS_EIO, "could not write the SVG plot (disk full or file closed?)");
    return 0;
}
