#!/usr/bin/env python3
"""mangler: a pub/sub relay that damages herd's stamped messages on purpose, by a fixed script,
and writes down exactly what each subscriber must have seen lost, duplicated and reordered.

    python3 tests/peers/mangler.py PORT [--report FILE] [--drop-every N] [--dup-every N]
                                        [--swap-every N] [--kick-after N] [--kick-pub-after N]

Plain asyncio and the standard library only (a minimal RFC 6455 server and an event stream),
so that nothing here shares code with herd or with another WebSocket library. Listens on
127.0.0.1:PORT (0: any free port) and prints "ready <port>".

  ws://H/pub...   a publisher: every data message it sends is relayed, by the script below
  ws://H/sub...   a WebSocket subscriber (anything not /pub is a subscriber)
  http://H/sub... a Server-Sent Events subscriber (a GET without an Upgrade)

The script works per publisher on the seq of the stamp `herd1:<publisher>:<seq>:<ns>` found
anywhere in the message; messages without a stamp are relayed untouched. For seq s:
  - s % drop_every == 0: dropped (never relayed)                          default 10
  - s % dup_every == 0:  relayed twice in a row                           default 7
  - s % swap_every == 0: held back and relayed after the publisher's next
    relayed message (a swap with its successor; if the successor is
    dropped, after the next one that is not)                               default 13
  - when a publisher disconnects, a message it still holds is relayed.
Every subscriber gets the same sequence. 0 turns a rule off.

--kick-after N closes every subscriber connection (WebSocket close 1001, or the end of the
event stream) once N messages were sent on it, so a client that reconnects misses what is
published meanwhile. --kick-pub-after N closes every publisher connection (1001) once it sent
N messages; "publishers" then says whether a publisher that came back reused seqs it had
already sent (seq_reused, the contract wants 0: seq counts from 1 per publisher per run).

The expected counts are not derived from the rules but measured on what was actually written
to each subscriber connection, with the definitions of herd's contract (per publisher; the
first message a stream gets from a publisher is its baseline):
  lost        seqs between the baseline and the highest seq seen that never arrived
  duplicated  arrivals of a seq that had arrived before
  reordered   arrivals of a seq lower than the highest seen, that had not arrived before
              (so it is not lost)
Also: delivered (messages written), unstamped, below_base (a seq under the baseline:
undefined by the contract, tests want 0) and max_reorder_distance (highest - seq of a late
arrival). Each subscriber connection is one stream ("subscribers", summed in "total"); "chained"
treats all subscriber connections, in the order they opened, as one stream: what one client that
keeps its state across reconnects must count (meaningful with one client at a time).

--report FILE is rewritten atomically (temp file + rename) whenever a connection opens or
closes and every 100 ms while messages flow:
  {"publishers_open": n, "subscribers_open": n, "publishers": {"<id>": {"received": n,
   "highest_seq": s, "seq_reused": n}}, "ops": {"dropped": n, "duplicated": n, "swapped": n},
   "subscribers": [{"id": k, "kind": "ws"|"sse", "open": bool, "delivered": n, "lost": n, ...}],
   "total": {...}, "chained": {...}}
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import signal
import struct
import sys

STAMP = re.compile(rb"herd1:(\d+):(\d+):(\d+)")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
COUNTS = ("delivered", "lost", "duplicated", "reordered", "unstamped", "below_base")


class Stream:
    """The expected counters of one stream of deliveries (herd's contract, measured)."""

    def __init__(self):
        self.pubs = {}  # publisher -> [base, highest, set of seqs seen]
        self.delivered = self.duplicated = self.reordered = 0
        self.unstamped = self.below_base = self.max_reorder_distance = 0

    def see(self, stamp):
        self.delivered += 1
        if stamp is None:
            self.unstamped += 1
            return
        pub, seq = stamp
        st = self.pubs.get(pub)
        if st is None:
            self.pubs[pub] = [seq, seq, {seq}]
            return
        base, highest, seen = st
        if seq in seen:
            self.duplicated += 1
        elif seq < base:
            self.below_base += 1
            seen.add(seq)
        elif seq < highest:
            self.reordered += 1
            self.max_reorder_distance = max(self.max_reorder_distance, highest - seq)
            seen.add(seq)
        else:
            st[1] = seq
            seen.add(seq)

    def lost(self):
        total = 0
        for base, highest, seen in self.pubs.values():
            total += (highest - base + 1) - sum(1 for s in seen if base <= s <= highest)
        return total

    def counts(self):
        return {"delivered": self.delivered, "lost": self.lost(), "duplicated": self.duplicated,
                "reordered": self.reordered, "unstamped": self.unstamped,
                "below_base": self.below_base, "max_reorder_distance": self.max_reorder_distance}


class Subscriber:
    def __init__(self, ident, kind, writer):
        self.id, self.kind, self.writer = ident, kind, writer
        self.queue = asyncio.Queue()
        self.stream = Stream()
        self.open = True
        self.sent_here = 0


class Relay:
    def __init__(self, args):
        self.args = args
        self.subs = []  # every subscriber ever, in the order they opened
        self.chained = Stream()
        self.publishers_open = 0
        self.pub_stats = {}  # publisher -> {"received", "highest_seq", "seq_reused"}
        self.pub_seen = {}  # publisher -> set of seqs received from it
        self.held = {}  # publisher -> (payload, opcode, stamp) held back for a swap
        self.ops = {"dropped": 0, "duplicated": 0, "swapped": 0}
        self.dirty = True

    # --- the script ---------------------------------------------------------------------

    def publish(self, payload, opcode):
        self.dirty = True
        m = STAMP.search(payload)
        if not m:
            self.fan_out(payload, opcode, None)
            return
        pub, seq = int(m.group(1)), int(m.group(2))
        st = self.pub_stats.setdefault(pub, {"received": 0, "highest_seq": 0, "seq_reused": 0})
        st["received"] += 1
        seen = self.pub_seen.setdefault(pub, set())
        if seq in seen:
            st["seq_reused"] += 1
        seen.add(seq)
        st["highest_seq"] = max(st["highest_seq"], seq)
        a = self.args
        if a.drop_every and seq % a.drop_every == 0:
            self.ops["dropped"] += 1
            return
        copies = 1
        if a.dup_every and seq % a.dup_every == 0:
            copies = 2
            self.ops["duplicated"] += 1
        held = self.held.pop(pub, None)
        if held is None and a.swap_every and seq % a.swap_every == 0:
            self.ops["swapped"] += 1
            self.held[pub] = (payload, opcode, (pub, seq), copies)
            return
        for _ in range(copies):
            self.fan_out(payload, opcode, (pub, seq))
        if held is not None:
            for _ in range(held[3]):
                self.fan_out(held[0], held[1], held[2])

    def publisher_gone(self, pubs):
        for pub in pubs:
            held = self.held.pop(pub, None)
            if held is not None:
                for _ in range(held[3]):
                    self.fan_out(held[0], held[1], held[2])

    def fan_out(self, payload, opcode, stamp):
        for sub in self.subs:
            if sub.open:
                sub.queue.put_nowait((payload, opcode, stamp))

    def delivered(self, sub, stamp):
        sub.stream.see(stamp)
        self.chained.see(stamp)
        self.dirty = True

    # --- the report ---------------------------------------------------------------------

    def report(self):
        subs = []
        total = dict.fromkeys(COUNTS, 0)
        total["max_reorder_distance"] = 0
        for s in self.subs:
            c = s.stream.counts()
            subs.append(dict(id=s.id, kind=s.kind, open=s.open, **c))
            for k in COUNTS:
                total[k] += c[k]
            total["max_reorder_distance"] = max(total["max_reorder_distance"],
                                                c["max_reorder_distance"])
        return {"publishers_open": self.publishers_open,
                "subscribers_open": sum(1 for s in self.subs if s.open),
                "publishers": {str(k): v for k, v in sorted(self.pub_stats.items())},
                "ops": self.ops, "subscribers": subs, "total": total,
                "chained": self.chained.counts()}

    def write_report(self):
        self.dirty = False
        if not self.args.report:
            return
        tmp = self.args.report + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.report(), f, indent=1)
        os.replace(tmp, self.args.report)

    async def report_loop(self):
        while True:
            await asyncio.sleep(0.1)
            if self.dirty:
                self.write_report()

    # --- connections --------------------------------------------------------------------

    async def handle(self, reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        path = parts[1] if len(parts) > 1 else "/"
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        try:
            if headers.get("upgrade", "").lower() == "websocket":
                key = headers.get("sec-websocket-key", "")
                accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
                writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                              f"{accept}\r\n\r\n").encode())
                if path.startswith("/pub"):
                    await self.serve_publisher(reader, writer)
                else:
                    await self.serve_subscriber(reader, writer, "ws")
            elif path.startswith("/sub"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n: hi\n\n")
                await self.serve_subscriber(reader, writer, "sse")
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except (ConnectionError, RuntimeError):
                pass

    async def serve_publisher(self, reader, writer):
        self.publishers_open += 1
        self.write_report()
        seen = set()
        count = 0
        try:
            async for payload, opcode in read_messages(reader, writer):
                m = STAMP.search(payload)
                if m:
                    seen.add(int(m.group(1)))
                self.publish(payload, opcode)
                count += 1
                if self.args.kick_pub_after and count >= self.args.kick_pub_after:
                    writer.write(frame(0x8, struct.pack("!H", 1001) + b"kicked"))
                    await writer.drain()
                    break
        finally:
            self.publisher_gone(seen)
            self.publishers_open -= 1
            self.write_report()

    async def serve_subscriber(self, reader, writer, kind):
        sub = Subscriber(len(self.subs), kind, writer)
        self.subs.append(sub)
        self.write_report()
        # Reading only notices the end (a close frame, EOF); subscribers send nothing else.
        if kind == "ws":
            watcher = asyncio.ensure_future(drain(read_messages(reader, writer)))
        else:
            watcher = asyncio.ensure_future(reader.read())
        getter = None
        sse_id = 0
        try:
            while True:
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait({getter, watcher},
                                             return_when=asyncio.FIRST_COMPLETED)
                if watcher in done:
                    break
                payload, opcode, stamp = getter.result()
                getter = None
                if kind == "ws":
                    writer.write(frame(opcode, payload))
                else:
                    sse_id += 1
                    text = payload.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                    data = b"".join(b"data: " + ln + b"\n" for ln in text.split(b"\n"))
                    writer.write(b"id: %d\n%s\n" % (sse_id, data))
                await writer.drain()
                self.delivered(sub, stamp)
                sub.sent_here += 1
                if self.args.kick_after and sub.sent_here >= self.args.kick_after:
                    if kind == "ws":
                        writer.write(frame(0x8, struct.pack("!H", 1001) + b"kicked"))
                        await writer.drain()
                    break
        finally:
            sub.open = False
            for t in (getter, watcher):
                if t is not None and not t.done():
                    t.cancel()
            self.write_report()


async def drain(messages):
    async for _ in messages:
        pass


def frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


async def read_messages(reader, writer):
    """Yield (payload, opcode) per complete data message; answer pings and closes; end at a
    close frame or EOF."""
    parts, first_op = [], None
    while True:
        try:
            b0, b1 = await reader.readexactly(2)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
        data = await reader.readexactly(n)
        if b1 & 0x80:
            data = bytes(b ^ mask[i & 3] for i, b in enumerate(data)) if n < 4096 else \
                unmask_big(data, mask)
        op = b0 & 0x0F
        if op == 0x8:
            try:
                writer.write(frame(0x8, data[:2]))
                await writer.drain()
            except ConnectionError:
                pass
            return
        if op == 0x9:
            writer.write(frame(0xA, data))
            continue
        if op == 0xA:
            continue
        if op != 0x0:
            first_op, parts = op, []
        parts.append(data)
        if b0 & 0x80:
            yield b"".join(parts), first_op
            parts = []


def unmask_big(data, mask):
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("port", type=int, nargs="?", default=0)
    ap.add_argument("--report")
    ap.add_argument("--drop-every", type=int, default=10)
    ap.add_argument("--dup-every", type=int, default=7)
    ap.add_argument("--swap-every", type=int, default=13)
    ap.add_argument("--kick-after", type=int, default=0)
    ap.add_argument("--kick-pub-after", type=int, default=0)
    args = ap.parse_args()
    relay = Relay(args)
    server = await asyncio.start_server(relay.handle, "127.0.0.1", args.port, limit=1 << 20)
    relay.write_report()
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reporter = asyncio.ensure_future(relay.report_loop())
    await stop.wait()
    reporter.cancel()
    relay.write_report()
    server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
