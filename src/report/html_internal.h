/* html_internal.h - shared by the HTML writers of src/report (html.c, compare.c): a growing text
 * buffer with HTML escaping, and the SVG line charts herd draws itself (svg.c). The page holds
 * no script and loads nothing: a chart's values on hover are SVG <title> elements. */
#ifndef HERD_REPORT_HTML_INTERNAL_H
#define HERD_REPORT_HTML_INTERNAL_H

#include <stddef.h>

#include "base/compiler.h"
#include "report/sbuf.h"

/* The x axis of a chart. */
enum svg_xaxis {
    SVG_X_SECONDS, /* linear, seconds since the run started */
    /* percentiles on a log "1/(1-p)" axis: x holds p in percent (0 .. 99.999) */
    SVG_X_PERCENTILE,
};

/* How the y values are shown on the axis and on hover. */
enum svg_yunit {
    SVG_Y_US, /* microseconds, shown as 412us, 3.21ms, 1.50s */
    SVG_Y_COUNT, /* plain numbers, 12.3k */
};

/* One line of a chart: y[i] belongs to the chart's x[i]; a NaN leaves a gap. */
struct svg_series {
    const char *name;
    const double *y;
};

/* The largest number of series one chart draws. */
#define SVG_MAX_SERIES 10

/* Append one chart: a <figure class="chart"> with a heading, a legend and an inline <svg> of
 * one <path class="line"> per series with any value, axes with ticks, and hover columns whose
 * <title> gives every series' value there. id names the chart (data-chart). Nothing is drawn
 * for series without a value; a chart without any value says "no data" instead. */
void svg_chart(struct sbuf *b, const char *id, const char *title, enum svg_xaxis xaxis,
               enum svg_yunit yunit, const double *x, size_t n, const struct svg_series *s,
               size_t ns);

/* The percentile grid of the distribution charts: p in percent from 0 to 99.999, evenly spaced
 * on the 1/(1-p) log axis. Returns how many points it wrote into p[0..max). */
size_t svg_percentile_grid(double *p, size_t max);

/* The CSS every page of herd's shares (screen, phone and print). */
extern const char html_style[];

/* "<!doctype html>...<body>": the head with the style and a Content-Security-Policy that lets
 * the page load nothing at all. */
void html_head(struct sbuf *b, const char *title);

/* Format a count for people: 12345.6 -> "12.3k". */
void html_fmt_count(char *out, size_t outlen, double v);

#endif
