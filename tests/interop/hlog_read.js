#!/usr/bin/env node
// hlog_read.js - read an HdrHistogram interval log (herd run --hlog) with hdr-histogram-js's
// HistogramLogReader, an implementation herd did not write, and print what it sees as one JSON
// object: per tag, every interval (start and end in seconds since the log's base time, count,
// max, p50, p99) and the sum of the intervals (count, min, max, p50, p90, p95, p99, p99.9).
//
// Usage: node hlog_read.js FILE.hlog
// Output: {"startTimeSec":X,"tags":{"rtt":{"intervals":[{"start":X,"end":X,"count":N,...}],
//          "total":{"totalCount":N,"min":N,"max":N,"p50":N,...}}}}
//      or {"error":"..."} when the log cannot be read.
"use strict";

const fs = require("fs");
const hdr = require("hdr-histogram-js");

function summary(h) {
    return {
        totalCount: h.totalCount,
        min: h.totalCount ? h.minNonZeroValue : null,
        max: h.maxValue,
        p50: h.getValueAtPercentile(50),
        p90: h.getValueAtPercentile(90),
        p95: h.getValueAtPercentile(95),
        p99: h.getValueAtPercentile(99),
        p999: h.getValueAtPercentile(99.9),
    };
}

function main(path) {
    const text = fs.readFileSync(path, "utf8");
    // bitBucketSize 64 and the pure JS decoder, as hdr_decode.js.
    const reader = new hdr.HistogramLogReader(text, 64, false);
    const tags = {};
    let h;
    while ((h = reader.nextIntervalHistogram()) !== null) {
        const tag = h.tag;
        if (!tags[tag]) {
            tags[tag] = {
                intervals: [],
                sum: hdr.build({
                    bitBucketSize: 64,
                    lowestDiscernibleValue: 1,
                    highestTrackableValue: 3600000000,
                    numberOfSignificantValueDigits: 3,
                    useWebAssembly: false,
                }),
            };
        }
        tags[tag].intervals.push({
            start: h.startTimeStampMsec / 1000 - reader.baseTimeSec,
            end: h.endTimeStampMsec / 1000 - reader.baseTimeSec,
            count: h.totalCount,
            max: h.maxValue,
            p50: h.getValueAtPercentile(50),
            p99: h.getValueAtPercentile(99),
        });
        tags[tag].sum.add(h);
    }
    const out = { startTimeSec: reader.startTimeSec, baseTimeSec: reader.baseTimeSec, tags: {} };
    for (const [tag, t] of Object.entries(tags)) {
        out.tags[tag] = { intervals: t.intervals, total: summary(t.sum) };
    }
    return out;
}

let out;
try {
    out = main(process.argv[2]);
} catch (e) {
    out = { error: String(e && e.message ? e.message : e) };
}
process.stdout.write(JSON.stringify(out) + "\n");
