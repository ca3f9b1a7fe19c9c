#!/usr/bin/env node
// sio_server.js [PORT] - a Socket.IO 4 server (npm socket.io), an independent peer for herd's flow
// tests. Engine.IO heartbeats every 200 ms (a client that does not answer `2` with `3` within
// 400 ms is dropped). Events: `add` (a, b, ack) acks a + b; `join` (room, ack) joins the room and
// acks "ok"; `chat` (text) is broadcast to the sender's rooms (not back to the sender). Prints
// "ready <port>"; on SIGTERM writes what it recorded as JSON to $STATS (when set) and exits:
// connections, pongs (heartbeats answered), adds, joins, chats received, chats delivered,
// disconnect reasons.
'use strict';
const http = require('http');
const fs = require('fs');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 0);
const httpServer = http.createServer();
const io = new Server(httpServer, { pingInterval: 200, pingTimeout: 400, transports: ['websocket'] });
const st = { connections: 0, pongs: 0, adds: 0, joins: 0, chats: 0, delivered: 0, disconnects: {} };

io.on('connection', (socket) => {
  st.connections++;
  socket.conn.on('packet', (p) => { if (p.type === 'pong') st.pongs++; });
  socket.on('add', (a, b, ack) => { st.adds++; if (typeof ack === 'function') ack(a + b); });
  socket.on('join', (room, ack) => {
    st.joins++;
    socket.join(String(room));
    if (typeof ack === 'function') ack('ok');
  });
  socket.on('chat', (text) => {
    st.chats++;
    for (const room of socket.rooms) {
      if (room === socket.id) continue;
      const n = (io.sockets.adapter.rooms.get(room) || new Set()).size - 1;
      st.delivered += n;
      socket.to(room).emit('chat', text);
    }
  });
  socket.on('disconnect', (reason) => { st.disconnects[reason] = (st.disconnects[reason] || 0) + 1; });
});
httpServer.listen(port, '127.0.0.1', () => process.stdout.write(`ready ${httpServer.address().port}\n`));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (process.env.STATS) fs.writeFileSync(process.env.STATS, JSON.stringify(st));
    process.exit(0);
  });
}
