#!/usr/bin/env node
// ws_pubsub.js [PORT] - a WebSocket pub/sub server built on the npm `ws` package, an independent
// peer for herd's integration tests. The request path is the topic: every data message a client
// sends is broadcast, with its type, to every other client connected on the same path. Listens
// on 127.0.0.1:PORT (argv, else $PORT, else an ephemeral port) and prints "ready <port>".
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 64 << 20 });
const topics = new Map(); // path -> Set of sockets

wss.on('connection', (ws, req) => {
  const path = (req.url || '/').split('?')[0];
  if (!topics.has(path)) topics.set(path, new Set());
  const peers = topics.get(path);
  peers.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const other of peers) {
      if (other !== ws && other.readyState === WebSocket.OPEN) other.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => {
    peers.delete(ws);
    if (peers.size === 0) topics.delete(path);
  });
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => process.stdout.write(`ready ${wss.address().port}\n`));
wss.on('error', (err) => {
  process.stderr.write(`ws_pubsub: ${err.message}\n`);
  process.exit(1);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
