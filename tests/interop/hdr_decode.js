#!/usr/bin/env node
// hdr_decode.js - decode HdrHistogram V2 compressed base64 strings with hdr-histogram-js, an
// implementation herd did not write, and print what it sees, one JSON line per input.
//
// Usage: node hdr_decode.js [BASE64 ...]   (no arguments: one string per line on stdin)
// Output: {"totalCount":N,"minNonZeroValue":N|null,"maxValue":N,"p50":N,"p90":N,"p99":N,
//          "p999":N,"mean":X,"stdDeviation":X,"lowestDiscernibleValue":N,
//          "highestTrackableValue":N,"numberOfSignificantValueDigits":N,
//          "counts":[[lowestEquivalentValue,count],...]}
//      or {"error":"..."} for a string it cannot decode.
"use strict";

const hdr = require("hdr-histogram-js");

function decode(text) {
    // bitBucketSize 64 (Float64Array counts: exact up to 2^53) and the pure JS decoder, so no
    // WebAssembly set-up is needed and counts above 2^32 would survive.
    const h = hdr.decodeFromCompressedBase64(text, 64, false);
    const counts = [];
    for (let i = 0; i < h.countsArrayLength; i++) {
        const c = h.getCountAtIndex(i);
        if (c !== 0) {
            counts.push([h.valueFromIndex(i), c]);
        }
    }
    return {
        totalCount: h.totalCount,
        // MAX_VALUE / MAX_SAFE_INTEGER mean "no non-zero value recorded".
        minNonZeroValue: h.minNonZeroValue >= Number.MAX_SAFE_INTEGER ? null : h.minNonZeroValue,
        maxValue: h.maxValue,
        p50: h.getValueAtPercentile(50),
        p90: h.getValueAtPercentile(90),
        p99: h.getValueAtPercentile(99),
        p999: h.getValueAtPercentile(99.9),
        mean: h.mean,
        stdDeviation: h.stdDeviation,
        lowestDiscernibleValue: h.lowestDiscernibleValue,
        highestTrackableValue: h.highestTrackableValue,
        numberOfSignificantValueDigits: h.numberOfSignificantValueDigits,
        counts: counts,
    };
}

function run(lines) {
    for (const line of lines) {
        const text = line.trim();
        if (text === "") {
            continue;
        }
        let out;
        try {
            out = decode(text);
        } catch (e) {
            out = { error: String(e && e.message ? e.message : e) };
        }
        process.stdout.write(JSON.stringify(out) + "\n");
    }
}

if (process.argv.length > 2) {
    run(process.argv.slice(2));
} else {
    let input = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk) => {
        input += chunk;
    });
    process.stdin.on("end", () => run(input.split("\n")));
}
