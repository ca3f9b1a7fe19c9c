#!/usr/bin/python3
"""Broadcast fan-out through `herd serve`: publishers at a fixed rate to N subscribers, over
WebSocket (ws://H/pubsub/T) and SSE (http://H/sse/T).

For each case it starts `herd serve`, a subscriber run (herd run --role subscribe), waits until
the subscribers are open, then a publisher run, and reports from the subscribers' JSON report:

  fanout p50/p99   stamp -> the last subscriber got the message (herd's `fanout` histogram)
  latency p99      stamp -> each delivery
  delivery ratio   fanout.delivered / fanout.expected (expected = delivered + losses detected)
  of all sent      fanout.delivered / (messages published x subscribers open): what reached the
                   subscribers before they stopped, in-flight messages included as not reached
  CPU/delivery     the subscriber process's user+sys CPU time / deliveries

Usage: bench/fanout.py [--subs 10000] [--rate 1000] [--secs 10] [--size 64] [--proto ws,sse]
                       [--sweep 100,1000,10000] [--herd build/release/herd]

Server, publisher and subscribers share this machine's cores: the figures are for the whole
loop on one host, not for herd alone. Every run is bounded by --secs."""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"herd serve did not listen on {port}")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_case(herd, proto, subs, rate, secs, size, threads):
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="herd-fanout-")
    serve = subprocess.Popen([herd, "serve", "--port", str(port), "--threads", str(threads)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        topic = "bench"
        sub_url = (f"ws://127.0.0.1:{port}/pubsub/{topic}" if proto == "ws"
                   else f"http://127.0.0.1:{port}/sse/{topic}")
        sub_json = os.path.join(tmp, "sub.json")
        # Subscribers outlast the publisher by the settle time, so every message settles.
        connect_rate = 5000
        ramp = subs / connect_rate + 1
        sub_secs = secs + 3
        cpu0 = children_cpu()
        sub = subprocess.Popen(
            [herd, "run", sub_url, "--role", "subscribe", "-c", str(subs), "-d", f"{sub_secs}s",
             "--connect-rate", str(connect_rate), "-t", str(threads), "-q", "--json", sub_json],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(ramp)
        pub_json = os.path.join(tmp, "pub.json")
        pub = subprocess.run(
            [herd, "run", f"ws://127.0.0.1:{port}/pubsub/{topic}", "--role", "publish", "-c", "1",
             "--rate", f"{rate}/s", "-s", str(size), "-d", f"{secs}s", "-t", "1", "-q",
             "--json", pub_json],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=secs + 60)
        sub.wait(timeout=sub_secs + 120)
        cpu_all = children_cpu() - cpu0  # subscriber + publisher
        with open(sub_json) as f:
            rep = json.load(f)
        with open(pub_json) as f:
            published = json.load(f)["counters"]["messages.sent"]
    finally:
        serve.terminate()
        serve.wait(timeout=10)
    c, h = rep["counters"], rep["histograms"]
    delivered = c.get("fanout.delivered", 0)
    expected = c.get("fanout.expected", 0)
    return {
        "proto": proto, "subs": subs, "rate": rate, "secs": secs,
        "opened": c["connections.opened"], "published": published,
        "messages": c.get("fanout.messages", 0), "delivered": delivered,
        "ratio": delivered / expected if expected else 0.0,
        "of_all": delivered / (published * c["connections.opened"])
                  if published and c["connections.opened"] else 0.0,
        "fanout_p50_ms": h["fanout"]["p50_us"] / 1000, "fanout_p99_ms": h["fanout"]["p99_us"] / 1000,
        "latency_p99_ms": h["latency"]["p99_us"] / 1000,
        "cpu_us_per_delivery": cpu_all * 1e6 / delivered if delivered else 0.0,
        "pub_rc": pub.returncode,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--herd", default=os.path.join(ROOT, "build/release/herd"))
    ap.add_argument("--subs", type=int, default=10000)
    ap.add_argument("--sweep", default="")
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--proto", default="ws,sse")
    a = ap.parse_args()
    counts = [int(x) for x in a.sweep.split(",")] if a.sweep else [a.subs]
    print(f"# herd fan-out: 1 publisher at {a.rate}/s, {a.size} B, {a.secs} s; "
          f"{os.cpu_count()} CPUs; serve and subscribers {a.threads} thread(s) each")
    print("| proto | subscribers | opened | published | settled | delivered | delivery ratio "
          "| of all sent | fanout p50 | fanout p99 | latency p99 | CPU per delivery (sub+pub) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for proto in a.proto.split(","):
        for n in counts:
            r = run_case(a.herd, proto, n, a.rate, a.secs, a.size, a.threads)
            print(f"| {r['proto']} | {r['subs']} | {r['opened']} | {r['published']} | "
                  f"{r['messages']} | {r['delivered']} | {100 * r['ratio']:.2f} % | "
                  f"{100 * r['of_all']:.2f} % | "
                  f"{r['fanout_p50_ms']:.1f} ms | {r['fanout_p99_ms']:.1f} ms | "
                  f"{r['latency_p99_ms']:.1f} ms | {r['cpu_us_per_delivery']:.2f} us |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
