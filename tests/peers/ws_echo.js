#!/usr/bin/env node
// ws_echo.js [PORT] - a WebSocket echo server built on the npm `ws` package, an independent peer
// for herd's integration tests. Every data message goes back with the same type (text or
// binary); `ws` answers PINGs with PONGs itself. Listens on 127.0.0.1:PORT (argv, else $PORT,
// else an ephemeral port) and prints "ready <port>" once listening. Any path is accepted.
// $PMD sets permessage-deflate: unset, `ws`'s defaults (on, compressing messages of 1 KiB and
// more); "off"; or a JSON object of `ws`'s perMessageDeflate options, e.g.
// {"threshold":0,"serverNoContextTakeover":true}.
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 0);
let perMessageDeflate = true;
if (process.env.PMD === 'off') perMessageDeflate = false;
else if (process.env.PMD) perMessageDeflate = JSON.parse(process.env.PMD);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate, maxPayload: 64 << 20 });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => process.stdout.write(`ready ${wss.address().port}\n`));
wss.on('error', (err) => {
  process.stderr.write(`ws_echo: ${err.message}\n`);
  process.exit(1);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
