/* svg.c - the charts of the HTML reports, drawn by herd as inline SVG: line charts over the
 * run's seconds and percentile-distribution charts on a log 1/(1-p) axis (as HdrHistogram plots
 * them), with axes, ticks, a legend and hover values as <title> elements. Also the page head the
 * HTML writers share. */
#include "report/html_internal.h"

#include "report/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void html_fmt_count(char *out, size_t outlen, double v)
{
    double a = fabs(v);
    if (!isfinite(v))
        snprintf(out, outlen, "-");
    else if (a < 999.5)
        snprintf(out, outlen, "%.*f", v == floor(v) ? 0 : a < 9.95 ? 2 : 1, v);
    else if (a < 999.5e3)
        snprintf(out, outlen, "%.*fk", a < 9.995e3 ? 2 : a < 99.95e3 ? 1 : 0, v / 1e3);
    else if (a < 999.5e6)
        snprintf(out, outlen, "%.*fM", a < 9.995e6 ? 2 : a < 99.95e6 ? 1 : 0, v / 1e6);
    else
        snprintf(out, outlen, "%.*fG", a < 9.995e9 ? 2 : a < 99.95e9 ? 1 : 0, v / 1e9);
}

/* ---- the page ---- */

const char html_style[] =
    ":root{--fg:#1b1f24;--mut:#5b6470;--line:#d5dae0;--bg:#fff;--ok:#137333;--bad:#b3261e}"
    "*{box-sizing:border-box}"
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);"
    "background:var(--bg);margin:0 auto;padding:12px;max-width:72rem}"
    "h1{font-size:1.5rem;margin:.3rem 0}h2{font-size:1.2rem;margin:1.6rem 0 .5rem;"
    "border-bottom:1px solid var(--line);padding-bottom:.2rem}h3{font-size:1rem;margin:1rem 0 "
    ".3rem}"
    "code,pre,.num{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}"
    "pre{white-space:pre-wrap;word-break:break-all;background:#f5f6f8;padding:.5rem;border-radius:"
    "4px}"
    ".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}"
    "table{border-collapse:collapse;margin:.3rem 0;font-size:.92em}"
    "th,td{padding:.2rem .55rem;border-bottom:1px solid var(--line);text-align:left;"
    "vertical-align:top}td.num,th.num{text-align:right;white-space:nowrap}"
    ".ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}"
    ".mut{color:var(--mut)}.badge{display:inline-block;padding:0 .45rem;border-radius:3px;"
    "color:#fff;font-weight:600}.badge.ok{background:var(--ok);color:#fff}"
    ".badge.bad{background:var(--bad);color:#fff}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,30rem),1fr));"
    "gap:1rem}"
    "figure.chart{margin:0;break-inside:avoid;page-break-inside:avoid}"
    "figure.chart figcaption{font-weight:600;margin-bottom:.2rem}"
    "figure.chart svg{width:100%;height:auto;display:block}"
    ".legend span{display:inline-block;margin-right:.8rem;font-size:.85em}"
    ".legend i{display:inline-block;width:.9em;height:.25em;vertical-align:middle;"
    "margin-right:.3em}"
    "svg text{font:13px system-ui,sans-serif;fill:var(--mut)}"
    "svg .grid{stroke:var(--line);stroke-width:1}svg .axis{stroke:#8a929c;stroke-width:1}"
    "svg .line{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}"
    "svg .hov rect{fill:transparent}svg .hov rect:hover{fill:rgba(0,0,0,.07)}"
    "@media (max-width:40rem){body{font-size:14px;padding:8px}th,td{padding:.15rem .35rem}}"
    "@media print{body{max-width:none;font-size:11px}h2{break-after:avoid}"
    "section{break-inside:auto}.hov{display:none}a{color:inherit}}";

void html_head(struct sbuf *b, const char *title)
{
    sb_put(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
              "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
              "style-src 'unsafe-inline'\">\n<title>");
    sb_esc(b, title);
    sb_put(b, "</title>\n<style>");
    sb_put(b, html_style);
    sb_put(b, "</style>\n</head>\n<body>\n");
}

/* ---- charts ---- */

/* Colour-blind-friendly, distinct in print. */
static const char *const palette[SVG_MAX_SERIES] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
};

#define W 640.0
#define H 250.0
#define ML 64.0 /* left margin: y labels */
#define MR 26.0
#define MT 10.0
#define MB 30.0 /* bottom margin: x labels */
#define HOVER_COLUMNS 320 /* at most this many hover columns, whatever the points */
#define DRAW_ALL_UP_TO 1200 /* longer series are thinned to DRAW_BUCKETS slices */
#define DRAW_BUCKETS 600
#define PCT_DECADES 5.0 /* 99.999 % */

/* A "nice" step (1, 2 or 5 times a power of ten) that divides span into about n steps. */
static double nice_step(double span, int n)
{
    if (!(span > 0) || !isfinite(span))
        return 1;
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static void fmt_y(char *out, size_t outlen, enum svg_yunit u, double v)
{
    if (u == SVG_Y_US)
        report_fmt_us(out, outlen, v);
    else
        html_fmt_count(out, outlen, v);
}

/* The x position of a data x, in 0..1 of the plot's width. */
static double x_frac(enum svg_xaxis a, double x, double xmax)
{
    if (a == SVG_X_PERCENTILE) {
        double q = 1.0 - x / 100.0;
        double d = q > 0 ? log10(1.0 / q) : PCT_DECADES;
        return d / PCT_DECADES;
    }
    return xmax > 0 ? x / xmax : 0;
}

static void fmt_pct(char *out, size_t outlen, double p)
{
    /* 99.9 -> "99.9%", 50 -> "50%", 99.99 with enough digits */
    int digits = 0;
    while (digits < 4 && fabs(p * pow(10, digits) - round(p * pow(10, digits))) > 1e-6)
        digits++;
    snprintf(out, outlen, "%.*f%%", digits, p);
}

size_t svg_percentile_grid(double *p, size_t max)
{
    if (max < 2)
        return 0;
    for (size_t i = 0; i < max; i++) {
        double d = PCT_DECADES * (double)i / (double)(max - 1);
        p[i] = 100.0 * (1.0 - pow(10, -d));
    }
    p[max - 1] = 99.999;
    return max;
}

void svg_chart(struct sbuf *b, const char *id, const char *title, enum svg_xaxis xaxis,
               enum svg_yunit yunit, const double *x, size_t n, const struct svg_series *s,
               size_t ns)
{
    if (ns > SVG_MAX_SERIES)
        ns = SVG_MAX_SERIES;
    double ymax = 0, xmax = 0;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        xmax = x[i] > xmax ? x[i] : xmax;
        for (size_t k = 0; k < ns; k++) {
            double v = s[k].y[i];
            if (isfinite(v)) {
                any = 1;
                ymax = v > ymax ? v : ymax;
            }
        }
    }
    sb_put(b, "<figure class=\"chart\" data-chart=\"");
    sb_esc(b, id);
    sb_put(b, "\"><figcaption>");
    sb_esc(b, title);
    sb_put(b, "</figcaption>\n<div class=\"legend\">");
    for (size_t k = 0; k < ns; k++) {
        sb_printf(b, "<span><i style=\"background:%s\"></i>", palette[k]);
        sb_esc(b, s[k].name);
        sb_put(b, "</span>");
    }
    sb_put(b, "</div>\n");
    if (!any || n == 0) {
        sb_put(b, "<p class=\"mut nodata\">no data</p></figure>\n");
        return;
    }
    double ystep = nice_step(ymax > 0 ? ymax : 1, 4);
    double ytop = ceil((ymax > 0 ? ymax : 1) / ystep) * ystep;
    const double pw = W - ML - MR, ph = H - MT - MB;
    sb_printf(b,
              "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" preserveAspectRatio=\"xMidYMid meet\" "
              "xmlns=\"http://www.w3.org/2000/svg\">",
              W, H);
    /* y grid and labels */
    for (double yv = 0; yv <= ytop + ystep / 2; yv += ystep) {
        double py = MT + ph - yv / ytop * ph;
        char t[32];
        fmt_y(t, sizeof t, yunit, yv);
        sb_printf(b,
                  "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                  ML, W - MR, py, py, ML - 5, py + 4, t);
    }
    /* x ticks */
    if (xaxis == SVG_X_PERCENTILE) {
        static const char *const lab[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"};
        for (int d = 0; d <= (int)PCT_DECADES; d++) {
            double px = ML + pw * d / PCT_DECADES;
            sb_printf(b,
                      "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                      px, px, MT, MT + ph, px, H - 10, lab[d]);
        }
    } else {
        double xstep = nice_step(xmax > 0 ? xmax : 1, 6);
        for (double xv = 0; xv <= xmax + 1e-9; xv += xstep) {
            double px = ML + pw * x_frac(xaxis, xv, xmax);
            sb_printf(b,
                      "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%gs</text>",
                      px, px, MT, MT + ph, px, H - 10, xv);
        }
    }
    sb_printf(b, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", ML,
              W - MR, MT + ph, MT + ph);
    /* One path per series; a single point is drawn as a small diamond so that it shows. A long
     * series (an hour of seconds) is thinned to the lowest and the highest point of each of
     * DRAW_BUCKETS slices, in order: no more points than the chart has pixels for, and every
     * spike still drawn. */
    size_t nb = n > DRAW_ALL_UP_TO ? DRAW_BUCKETS : n;
    size_t *pick = malloc((2 * nb + 1) * sizeof *pick);
    if (!pick) {
        b->oom = 1;
        return;
    }
    for (size_t k = 0; k < ns; k++) {
        const double *y = s[k].y;
        size_t np = 0;
        for (size_t c = 0; c < nb; c++) {
            size_t lo = nb == n ? c : c * n / nb, hi = nb == n ? c + 1 : (c + 1) * n / nb;
            size_t mn = SIZE_MAX, mx = SIZE_MAX;
            for (size_t i = lo; i < hi; i++) {
                if (!isfinite(y[i]))
                    continue;
                if (mn == SIZE_MAX || y[i] < y[mn])
                    mn = i;
                if (mx == SIZE_MAX || y[i] > y[mx])
                    mx = i;
            }
            if (mn == SIZE_MAX) {
                pick[np++] = SIZE_MAX; /* a gap */
            } else if (mn == mx) {
                pick[np++] = mn;
            } else {
                pick[np++] = mn < mx ? mn : mx;
                pick[np++] = mn < mx ? mx : mn;
            }
        }
        int pen = 0, drawn = 0;
        for (size_t j = 0; j < np; j++) {
            size_t i = pick[j];
            if (i == SIZE_MAX) {
                pen = 0;
                continue;
            }
            double px = ML + pw * x_frac(xaxis, x[i], xmax);
            double py = MT + ph - (y[i] / ytop) * ph;
            if (!drawn)
                sb_printf(b, "<path class=\"line\" stroke=\"%s\" d=\"", palette[k]);
            int alone = !pen && (j + 1 >= np || pick[j + 1] == SIZE_MAX);
            if (alone)
                sb_printf(b, "M%.1f %.1fl3 3l-3 3l-3 -3z", px, py - 3); /* a small diamond */
            else
                sb_printf(b, "%c%.1f %.1f", pen ? 'L' : 'M', px, py);
            pen = 1;
            drawn = 1;
        }
        if (drawn)
            sb_put(b, "\"/>");
    }
    free(pick);
    /* hover columns: every series' value at that x */
    size_t cols = n < HOVER_COLUMNS ? n : HOVER_COLUMNS;
    sb_put(b, "<g class=\"hov\">");
    for (size_t c = 0; c < cols; c++) {
        size_t i = cols == n ? c : c * n / cols;
        size_t next = c + 1 < cols ? (cols == n ? c + 1 : (c + 1) * n / cols) : n;
        double x0 = ML + pw * x_frac(xaxis, x[i], xmax);
        double x1 = next < n ? ML + pw * x_frac(xaxis, x[next], xmax) : W - MR;
        double xl = c == 0 ? ML : x0;
        if (x1 <= xl)
            x1 = xl + 1;
        char xt[32];
        if (xaxis == SVG_X_PERCENTILE)
            fmt_pct(xt, sizeof xt, x[i]);
        else
            snprintf(xt, sizeof xt, "%gs", x[i]);
        sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>%s", xl, MT,
                  x1 - xl, ph, xt);
        for (size_t k = 0; k < ns; k++) {
            char v[32] = "-";
            if (isfinite(s[k].y[i]))
                fmt_y(v, sizeof v, yunit, s[k].y[i]);
            sb_put(b, "\n");
            sb_esc(b, s[k].name);
            sb_printf(b, ": %s", v);
        }
        sb_put(b, "</title></rect>");
    }
    sb_put(b, "</g></svg></figure>\n");
}
