/*
 * cli/report_chart.c - axes, ticks and lines of the report's inline SVG
 * charts (see report_chart.h).
 *
 * Tick steps come from nas_svg_nice_step (cli/svg.c), so the report's axes
 * and `nas pareto --svg` agree on what a "nice" scale is.
 */
#include "cli/report_chart.h"

#include <math.h>
#include <stdint.h>

#include "cli/svg.h"

#define CHART_MARGIN_LEFT 64.0
#define CHART_MARGIN_RIGHT 18.0
#define CHART_MARGIN_TOP 34.0
#define CHART_MARGIN_BOTTOM 46.0
#define CHART_TARGET_TICKS 6

void nas_html_escape(FILE *out, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

/* Widens [*lo, *hi] to whole multiples of a nice step; returns the step. */
static double widen_to_ticks(double *lo, double *hi) {
    if (!isfinite(*lo) || !isfinite(*hi)) *lo = 0, *hi = 1;
    if (*hi < *lo) {
        double t = *lo;
        *lo = *hi, *hi = t;
    }
    if (*hi - *lo < 1e-12 * (fabs(*hi) + 1)) {
        double pad = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1.0;
        *lo -= pad, *hi += pad;
    }
    double step = nas_svg_nice_step(*hi - *lo, CHART_TARGET_TICKS);
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
    return step;
}

/* Tick labels with just the decimals the step needs. */
static void write_tick_label(FILE *out, double value, double step) {
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6) decimals = 6;
    if (fabs(value) < step * 1e-6) value = 0; /* no "-0" */
    fprintf(out, "%.*f", decimals, value);
}

double nas_chart_x(const nas_chart *c, double x) {
    return c->left + (x - c->x_min) / (c->x_max - c->x_min) * (c->right - c->left);
}

double nas_chart_y(const nas_chart *c, double y) {
    return c->bottom - (y - c->y_min) / (c->y_max - c->y_min) * (c->bottom - c->top);
}

void nas_chart_begin(nas_chart *c, FILE *out, const nas_chart_frame *f) {
    c->out = out;
    c->x_min = f->x_min, c->x_max = f->x_max, c->y_min = f->y_min, c->y_max = f->y_max;
    double x_step = widen_to_ticks(&c->x_min, &c->x_max);
    double y_step = widen_to_ticks(&c->y_min, &c->y_max);
    c->left = CHART_MARGIN_LEFT;
    c->right = f->width - CHART_MARGIN_RIGHT;
    c->top = CHART_MARGIN_TOP;
    c->bottom = f->height - CHART_MARGIN_BOTTOM;
    c->id = f->id;

    fprintf(out,
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
            f->width, f->height, f->width, f->height);
    nas_html_escape(out, f->title);
    fprintf(out, "\">\n<defs><clipPath id=\"clip-%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                 "height=\"%.1f\"/></clipPath></defs>\n",
            c->id, c->left, c->top, c->right - c->left, c->bottom - c->top);
    fputs("<text class=\"chart-title\" x=\"", out);
    fprintf(out, "%.1f\" y=\"20\">", c->left);
    nas_html_escape(out, f->title);
    fputs("</text>\n", out);

    /* Grid lines and tick labels; the loop counts ticks so that rounding
     * never drops the last one. */
    int x_ticks = (int)lround((c->x_max - c->x_min) / x_step);
    for (int i = 0; i <= x_ticks; i++) {
        double v = c->x_min + i * x_step, px = nas_chart_x(c, v);
        fprintf(out, "<line class=\"chart-grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                px, c->top, px, c->bottom);
        fprintf(out, "<text class=\"chart-tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", px,
                c->bottom + 16);
        write_tick_label(out, v, x_step);
        fputs("</text>\n", out);
    }
    int y_ticks = (int)lround((c->y_max - c->y_min) / y_step);
    for (int i = 0; i <= y_ticks; i++) {
        double v = c->y_min + i * y_step, py = nas_chart_y(c, v);
        fprintf(out, "<line class=\"chart-grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                c->left, py, c->right, py);
        fprintf(out, "<text class=\"chart-tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                c->left - 6, py + 4);
        write_tick_label(out, v, y_step);
        fputs("</text>\n", out);
    }
    fprintf(out, "<rect class=\"chart-box\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
            c->left, c->top, c->right - c->left, c->bottom - c->top);
    fprintf(out, "<text class=\"chart-label\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
            (c->left + c->right) / 2, f->height - 8);
    nas_html_escape(out, f->x_label);
    fprintf(out, "</text>\n<text class=\"chart-label\" transform=\"translate(16 %.1f) rotate(-90)\" "
                 "text-anchor=\"middle\">",
            (c->top + c->bottom) / 2);
    nas_html_escape(out, f->y_label);
    fputs("</text>\n", out);
}

void nas_chart_clip_begin(const nas_chart *c) {
    fprintf(c->out, "<g clip-path=\"url(#clip-%s)\">\n", c->id);
}

void nas_chart_clip_end(const nas_chart *c) { fputs("</g>\n", c->out); }

void nas_chart_line(const nas_chart *c, const double *xs, const double *ys, int n, bool step,
                    const char *css_class) {
    if (n <= 0) return;
    fprintf(c->out, "<polyline class=\"%s\" points=\"", css_class);
    for (int i = 0; i < n; i++) {
        double px = nas_chart_x(c, xs[i]), py = nas_chart_y(c, ys[i]);
        if (step && i > 0) fprintf(c->out, "%.1f,%.1f ", px, nas_chart_y(c, ys[i - 1]));
        fprintf(c->out, "%.1f,%.1f ", px, py);
    }
    fputs("\"/>\n", c->out);
}

void nas_chart_legend(const nas_chart *c, const nas_chart_legend_entry *entries, int n,
                      nas_legend_corner corner) {
    double x = corner == NAS_LEGEND_TOP_LEFT ? c->left + 10 : c->right - 190;
    double y = corner == NAS_LEGEND_BOTTOM_RIGHT ? c->bottom - 18.0 * n - 2 : c->top + 16;
    fprintf(c->out, "<rect class=\"chart-legend\" x=\"%.1f\" y=\"%.1f\" width=\"180\" height=\"%d\"/>\n",
            x - 4, y - 12, 18 * n + 6);
    for (int i = 0; i < n; i++, y += 18) {
        if (entries[i].dot)
            fprintf(c->out, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/>", entries[i].css_class,
                    x + 8, y - 4);
        else
            fprintf(c->out, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                    entries[i].css_class, x, y - 4, x + 16, y - 4);
        fprintf(c->out, "<text class=\"chart-tick\" x=\"%.1f\" y=\"%.1f\">", x + 24, y);
        nas_html_escape(c->out, entries[i].label);
        fputs("</text>\n", c->out);
    }
}

void nas_chart_end(nas_chart *c) { fputs("</svg>\n", c->out); }
