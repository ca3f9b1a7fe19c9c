#!/usr/bin/python3
"""deflate.py - what permessage-deflate costs herd and herd serve: memory per compressed
connection (idle, and active with and without context takeover) and CPU time per compressed
echo round trip against uncompressed, for 32 B, 1 KiB and 64 KiB messages of compressible text
and of random bytes.

    /usr/bin/python3 bench/deflate.py [--part memory,cpu] [--conns 2000] [--secs 5] [--repeats 3]

Memory. `herd serve --threads 1 [--compress]` and `herd run -t 1 --role echo --rate 1 -s 1024`
(one message a second on every connection, so every connection is active: it has compressed
and inflated at least once) with N connections and with 1; each process's VmRSS is read from
/proc once all are open and have sent (after 5 s), and (RSS(N) - RSS(1)) / (N - 1) is the memory
per connection. Idle is the same with --role idle (deflate negotiated, no message). The offers:
none (plain), `--compress` (context takeover both ways: a zlib stream per connection each way,
made at its first message), and `--compress=client_no_context_takeover` (herd serve never keeps
its own context, so then neither side keeps one: every stream is the thread's).

CPU. `herd serve --threads 1 --compress` and `herd run -t 1 -c 10 --role echo` for SECS, each
offer, message and repeat in a fresh pair: the client's CPU time (user + system, from wait4) and
the server's (/proc/PID/stat, read around the run) over the round trips the client counted.
Both include the kernel's share of a round trip (a read and a write each side, about 6 us of CPU
here: bench/cpu_per_rtt.py), the same with or without compression, so the difference from the
plain row is what deflate costs. Ten connections keep both processes busy, not the machine:
the figures are each process's own CPU, so other work moves them less than throughput (and
callgrind is no judge here: it counts each byte of zlib's `rep stosb` resets as an instruction).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from benchlib import cpu_ticks, free_port, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERD = os.path.join(ROOT, "build/release/herd")
OFFERS = [("plain", []), ("takeover", ["--compress"]),
          ("no takeover", ["--compress=client_no_context_takeover"])]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read())[1])


def memory_one(offer, role, conns, tmp):
    port = free_port()
    srv = subprocess.Popen([HERD, "serve", "--port", str(port), "--threads", "1", "-q",
                            "--compress"])
    try:
        wait_port(port, srv)
        base_srv = rss_kib(srv.pid)
        rep = os.path.join(tmp, "m.json")
        args = [HERD, "run", "-q", "-t", "1", "-c", str(conns), "-d", "8s", "--json", rep,
                "--role", role, *(["--rate", "1", "-s", "1024"] if role == "echo" else []),
                *offer, f"ws://127.0.0.1:{port}/echo"]
        cli = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        time.sleep(5)
        r_cli, r_srv = rss_kib(cli.pid), rss_kib(srv.pid)
        if cli.wait(timeout=60) != 0:
            sys.exit(f"{' '.join(args)} failed")
        with open(rep) as f:
            c = json.load(f)["counters"]
        if c["connections.opened"] != conns:
            sys.exit(f"only {c['connections.opened']} of {conns} opened")
        return r_cli, r_srv - base_srv
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def part_memory(args, tmp):
    print("memory per connection (KiB), (RSS(N) - RSS(1)) / (N - 1), "
          f"N = {args.conns}, read 5 s after the start")
    print(f"{'offer':12} {'state':7} {'herd run':>10} {'herd serve':>11}")
    for name, offer in OFFERS:
        for role, state in (("idle", "idle"), ("echo", "active")):
            c1, s1 = memory_one(offer, role, 1, tmp)
            cn, sn = memory_one(offer, role, args.conns, tmp)
            per_c = (cn - c1) / (args.conns - 1)
            per_s = (sn - s1) / (args.conns - 1)
            print(f"{name:12} {state:7} {per_c:10.2f} {per_s:11.2f}", flush=True)


def cpu_seconds(pid):
    """utime + stime of a process, all its threads, in seconds."""
    return sum(cpu_ticks(pid)) / os.sysconf("SC_CLK_TCK")


def message_file(size, binary, tmp):
    """The message: the stamp, then English-like text (compressible) or random bytes sent as
    binary frames (incompressible), padded to the size."""
    path = os.path.join(tmp, f"msg-{size}-{int(binary)}")
    with open(path, "wb") as f:
        f.write(b"{{stamp}} ")
        if binary:
            body = os.urandom(size).replace(b"{{", b"{(")
        else:
            body = b"the quick brown fox reports its latency to the herd " * (size // 50 + 1)
        f.write(body[:max(size - 40, 0)])
    return ["--message-file", path, "-s", str(size)] + (["--binary"] if binary else [])


def cpu_one(offer, msg, secs, tmp):
    """CPU seconds per round trip of the client and of the server over one echo run."""
    port = free_port()
    srv = subprocess.Popen([HERD, "serve", "--port", str(port), "--threads", "1", "-q",
                            "--compress"])
    try:
        wait_port(port, srv)
        rep = os.path.join(tmp, "c.json")
        s0 = cpu_seconds(srv.pid)
        cli = subprocess.Popen([HERD, "run", "-q", "-t", "1", "-c", "10", "-d", f"{secs}s",
                                "--json", rep, "--role", "echo", *msg, *offer,
                                f"ws://127.0.0.1:{port}/echo"], stdout=subprocess.DEVNULL)
        _, status, ru = os.wait4(cli.pid, 0)
        cli.returncode = os.waitstatus_to_exitcode(status)
        s1 = cpu_seconds(srv.pid)
        if cli.returncode != 0:
            sys.exit(f"herd run {' '.join(offer + msg)} exited {cli.returncode}")
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    with open(rep) as f:
        r = json.load(f)
    trips = r["histograms"]["rtt"]["count"]
    if trips == 0 or r["counters"]["messages.lost"]:
        sys.exit(f"herd run {' '.join(offer + msg)}: {trips} round trips, "
                 f"{r['counters']['messages.lost']} lost")
    return (ru.ru_utime + ru.ru_stime) / trips, (s1 - s0) / trips


def part_cpu(args, tmp):
    print("\nCPU us per echo round trip (user + system; median of "
          f"{args.repeats} runs of {args.secs} s, 10 connections, one thread each side)")
    print(f"{'message':16} {'offer':12} {'herd run':>9} {'herd serve':>11}")
    for size in (32, 1024, 65536):
        for binary in (False, True):
            label = f"{size} B {'random' if binary else 'text'}"
            msg = message_file(size, binary, tmp)
            for name, offer in OFFERS:
                runs = [cpu_one(offer, msg, args.secs, tmp) for _ in range(args.repeats)]
                cli = sorted(r[0] for r in runs)[len(runs) // 2]
                srv = sorted(r[1] for r in runs)[len(runs) // 2]
                print(f"{label:16} {name:12} {cli * 1e6:9.2f} {srv * 1e6:11.2f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", default="memory,cpu",
                    help="comma-separated: memory, cpu (default both)")
    ap.add_argument("--conns", type=int, default=2000,
                    help="connections for the memory part (default 2000)")
    ap.add_argument("--secs", type=int, default=5, help="seconds per CPU run (default 5)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="CPU runs per row; the median is shown (default 3)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="herd-deflate-")
    parts = args.part.split(",")
    if "memory" in parts:
        part_memory(args, tmp)
    if "cpu" in parts:
        part_cpu(args, tmp)


if __name__ == "__main__":
    main()
