/*
 * cli/report_chart.h - inline SVG charts for the HTML report.
 *
 * A chart is a frame (axes with "nice" ticks, grid, title and axis labels)
 * plus whatever the caller draws in data coordinates through nas_chart_x /
 * nas_chart_y. Output is plain SVG elements meant to sit inside an HTML page:
 * colours and fonts come from the page's CSS classes (chart-*), so every chart
 * of the report looks alike and the file needs nothing external.
 */
#ifndef NAS_CLI_REPORT_CHART_H
#define NAS_CLI_REPORT_CHART_H

#include <stdbool.h>
#include <stdio.h>

typedef struct nas_chart_frame {
    const char *id; /* unique within the page: [a-z0-9-] (names the clip path) */
    const char *title, *x_label, *y_label;
    double x_min, x_max, y_min, y_max; /* data range; widened to whole ticks */
    int width, height;                 /* SVG size in CSS pixels */
} nas_chart_frame;

typedef struct nas_chart {
    FILE *out;
    const char *id;
    double x_min, x_max, y_min, y_max; /* after widening */
    double left, right, top, bottom;   /* plot area in pixels */
} nas_chart;

/* Writes <svg>, grid, ticks, labels and a clip path for the plot area. The
 * range is widened to whole tick steps; an empty range (min == max) is
 * widened around its value. */
void nas_chart_begin(nas_chart *c, FILE *out, const nas_chart_frame *frame);
/* Pixel position of a data value. */
double nas_chart_x(const nas_chart *c, double x);
double nas_chart_y(const nas_chart *c, double y);
/* Opens / closes a group clipped to the plot area (draw data inside it). */
void nas_chart_clip_begin(const nas_chart *c);
void nas_chart_clip_end(const nas_chart *c);
/* A line through n points in data coordinates; step: horizontal then
 * vertical segments (a staircase, for fronts and best-so-far curves). */
void nas_chart_line(const nas_chart *c, const double *xs, const double *ys, int n, bool step,
                    const char *css_class);
/* Legend entries in a corner of the plot area: a swatch drawn with the
 * entry's class ("dot" or "line" shape) and its label. */
typedef struct nas_chart_legend_entry {
    const char *label, *css_class;
    bool dot;
} nas_chart_legend_entry;
typedef enum { NAS_LEGEND_TOP_LEFT, NAS_LEGEND_TOP_RIGHT, NAS_LEGEND_BOTTOM_RIGHT } nas_legend_corner;
void nas_chart_legend(const nas_chart *c, const nas_chart_legend_entry *entries, int n,
                      nas_legend_corner corner);
void nas_chart_end(nas_chart *c);

/* Writes s with &, <, >, " and ' escaped (for HTML text and attributes). */
void nas_html_escape(FILE *out, const char *s);

#endif
