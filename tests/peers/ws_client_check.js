#!/usr/bin/env node
// ws_client_check.js URL MODE [N] - a WebSocket client on npm `ws` with permessage-deflate on
// (every message compressed: threshold 0), checking a server nobody here wrote... or herd serve.
//   MODE echo:   send N messages (text and binary, small and 100 KB, compressible and random),
//                expect each back, equal and in order
//   MODE pubsub: open two connections to URL; the first publishes N messages, the second must
//                receive them all, equal and in order
// Prints one JSON line: {"extensions": "...", "sent": n, "ok": n, "bad": [...]} and exits 0, or
// 1 on a connection error or timeout (10 s).
'use strict';
const WebSocket = require('ws');
const crypto = require('crypto');

const [url, mode, nArg] = process.argv.slice(2);
const n = Number(nArg || 50);
const opts = { perMessageDeflate: { threshold: 0 } };
const out = { extensions: null, sent: 0, ok: 0, bad: [] };
const timer = setTimeout(() => finish(1, 'timeout'), 10000);

function finish(code, why) {
  if (why) out.bad.push(why);
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(code);
}

function message(i) {
  const big = i % 10 === 9;
  if (i % 3 === 2) return crypto.randomBytes(big ? 100000 : 200); // binary, incompressible
  const s = `herd ${i} `.repeat(big ? 10000 : 20) + 'é€😀';
  return s;
}

function same(a, b) {
  return Buffer.isBuffer(a) ? Buffer.compare(a, Buffer.from(b)) === 0 : a === b.toString();
}

function run(rx, tx) {
  const want = [];
  for (let i = 0; i < n; i++) want.push(message(i));
  let got = 0;
  rx.on('message', (data, isBinary) => {
    const w = want[got++];
    if (Buffer.isBuffer(w) !== isBinary || !same(w, data)) out.bad.push(`message ${got - 1} differs`);
    else out.ok++;
    if (got === n) finish(out.bad.length ? 1 : 0);
  });
  for (const m of want) {
    tx.send(m, { binary: Buffer.isBuffer(m), compress: true });
    out.sent++;
  }
}

const a = new WebSocket(url, opts);
a.on('error', (e) => finish(1, String(e.message)));
a.on('open', () => {
  out.extensions = a.extensions;
  if (mode === 'echo') return run(a, a);
  const b = new WebSocket(url, opts);
  b.on('error', (e) => finish(1, String(e.message)));
  b.on('open', () => setTimeout(() => run(b, a), 200));
});
