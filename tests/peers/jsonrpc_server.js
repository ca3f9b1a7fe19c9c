#!/usr/bin/env node
// jsonrpc_server.js [PORT] - JSON-RPC 2.0 over WebSocket (npm json-rpc-2.0 on ws), an independent
// peer for herd's flow tests. Methods: add(a, b) -> a + b; whoami() -> the token the connection
// came with (its Authorization: Bearer header, else its ?token= query). Replies carry the
// request's id. Prints "ready <port>"; on SIGTERM writes what it recorded as JSON to $STATS (when
// set) and exits: connections, calls by method, and the tokens seen (header and query).
'use strict';
const fs = require('fs');
const { WebSocketServer } = require('ws');
const { JSONRPCServer } = require('json-rpc-2.0');

const st = { connections: 0, calls: {}, header_tokens: [], query_tokens: [] };
const rpc = new JSONRPCServer();
rpc.addMethod('add', ([a, b]) => { st.calls.add = (st.calls.add || 0) + 1; return a + b; });
rpc.addMethod('whoami', (_, ctx) => { st.calls.whoami = (st.calls.whoami || 0) + 1; return ctx.token; });

const port = Number(process.argv[2] || process.env.PORT || 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port });
wss.on('connection', (ws, req) => {
  st.connections++;
  const auth = req.headers.authorization || '';
  const q = new URL(req.url, 'http://x').searchParams.get('token');
  if (auth.startsWith('Bearer ')) st.header_tokens.push(auth.slice(7));
  if (q) st.query_tokens.push(q);
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : q;
  ws.on('message', async (data) => {
    let req;
    try { req = JSON.parse(data.toString()); } catch (e) { return; }
    const res = await rpc.receive(req, { token });
    if (res && ws.readyState === 1) ws.send(JSON.stringify(res));
  });
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => process.stdout.write(`ready ${wss.address().port}\n`));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (process.env.STATS) fs.writeFileSync(process.env.STATS, JSON.stringify(st));
    process.exit(0);
  });
}
