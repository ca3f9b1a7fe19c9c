#!/usr/bin/env node
// gql_server.js [PORT] - GraphQL over WebSocket (npm graphql-ws on ws, subprotocol
// graphql-transport-ws), an independent peer for herd's flow tests. Schema: Query.hello ->
// "world"; Subscription.count(to) yields 1..to, then completes. Every 200 ms the server pings
// each acknowledged connection ({"type":"ping"}), which a client answers with pong. Prints
// "ready <port>"; on SIGTERM writes what it recorded as JSON to $STATS (when set) and exits:
// connections acknowledged, operations subscribed, nexts sent, completes, pings sent, pongs.
'use strict';
const fs = require('fs');
const { WebSocketServer } = require('ws');
const { useServer } = require('graphql-ws/use/ws');
const { GraphQLSchema, GraphQLObjectType, GraphQLString, GraphQLInt } = require('graphql');

const st = { acks: 0, subscribes: 0, nexts: 0, completes: 0, pings: 0, pongs: 0 };
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: { hello: { type: GraphQLString, resolve: () => 'world' } },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      count: {
        type: GraphQLInt,
        args: { to: { type: GraphQLInt } },
        subscribe: async function* (_, { to }) {
          for (let i = 1; i <= to; i++) yield { count: i };
        },
      },
    },
  }),
});

const port = Number(process.argv[2] || process.env.PORT || 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port });
useServer({
  schema,
  onConnect: () => { st.acks++; return true; },
  onSubscribe: () => { st.subscribes++; },
  onNext: () => { st.nexts++; },
  onComplete: () => { st.completes++; },
}, wss);
wss.on('connection', (socket) => {
  socket.on('message', (d) => {
    try { if (JSON.parse(d.toString()).type === 'pong') st.pongs++; } catch (e) { /* not ours */ }
  });
  const t = setInterval(() => {
    if (socket.readyState !== 1) return;
    st.pings++;
    socket.send('{"type":"ping"}');
  }, 200);
  socket.on('close', () => clearInterval(t));
});
wss.on('listening', () => process.stdout.write(`ready ${wss.address().port}\n`));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (process.env.STATS) fs.writeFileSync(process.env.STATS, JSON.stringify(st));
    process.exit(0);
  });
}
