#!/usr/bin/python3
"""instr_per_rtt.py - instructions the client executes per round trip, counted by valgrind's
callgrind: a figure that other work on the machine does not move, to judge a change to the
client when the machine is too busy for bench/cpu_per_rtt.py's CPU times.

    /usr/bin/python3 bench/instr_per_rtt.py [--herd BIN] [--baseline OTHER_BIN]
                                            [--conns 100,1000] [--secs 6] [--port 18191] [--flow]

For each client binary and each connection count it starts `herd serve --threads 1` (the
current build, natively) and runs `herd run -c N -t 1 --role ping` and `--role echo -s 32
--binary` under `valgrind --tool=callgrind` twice, for SECS and for 2 x SECS, counting only what
runs inside the connections' event and timer callbacks (on_io, on_timer: reading, parsing,
timing, sending) and not the once-a-second work of the reporter and the stats swap, which grows
with time and not with round trips. Both runs set up and tear down the same connections, so the
difference of their instructions over the difference of their round trips (from the JSON
reports) is the steady state's cost per round trip. Under
valgrind herd runs some 50 times slower, so the round trips per second are not the point: the
instructions per round trip are. A PING round trip and an echo round trip each cost one read and
one write; the rest is herd's own work. (herd falls back to epoll_wait under valgrind, which does
not know epoll_pwait2.) With --flow, a correlated request/reply flow (one request in flight per
connection, its reply found by the JSON pointer /id; timed in steps.rt) is counted beside echo.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

from benchlib import free_port, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERD = os.path.join(ROOT, "build/release/herd")

ROLES = [("ping", ["--role", "ping"]), ("echo -s 32", ["--role", "echo", "-s", "32", "--binary"])]


def measure(binary, role, conns, secs, tmp):
    port = free_port()
    srv = subprocess.Popen([HERD, "serve", "--port", str(port), "--threads", "1", "-q"])
    try:
        wait_port(port, srv)
        out = os.path.join(tmp, "cg.out")
        rep = os.path.join(tmp, "r.json")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               "--collect-atstart=no", "--toggle-collect=on_io", "--toggle-collect=on_timer",
               binary, "run",
               "-c", str(conns), "-d", f"{secs}s", "-t", "1", "-q", "--json", rep, *role,
               f"ws://127.0.0.1:{port}/echo"]
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
        with open(out) as f:
            m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
        with open(rep) as f:
            h = json.load(f)["histograms"]
            trips = h["steps.rt"]["count"] if "--flow" in role else h["rtt"]["count"]
        return int(m[1]), trips
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--herd", default=HERD)
    ap.add_argument("--baseline", help="another herd binary to count beside it")
    ap.add_argument("--conns", default="100,1000")
    ap.add_argument("--secs", type=int, default=6)
    ap.add_argument("--flow", action="store_true",
                    help="also a correlated request/reply flow (this binary only), beside echo")
    args = ap.parse_args()
    bins = [("herd", args.herd)] + ([("base", args.baseline)] if args.baseline else [])
    tmp = tempfile.mkdtemp(prefix="herd-instr-")
    roles = list(ROLES)
    if args.flow:
        # As bench/cpu_per_rtt.py --flow: one request in flight, its reply found by /id.
        flow = os.path.join(tmp, "rpc.yaml")
        with open(flow, "w") as f:
            f.write("- request:\n    name: rt\n"
                    "    send: '{\"id\":{{seq}},\"p\":\"0123456789abcdef\"}'\n"
                    "    key: /id\n    count: forever\n")
        roles.append(("flow req", ["--flow", flow]))
    rows = []
    for n in (int(x) for x in args.conns.split(",")):
        for rname, role in roles:
            for bname, binary in bins:
                if bname == "base" and "--flow" in role:
                    continue
                ir1, trips1 = measure(binary, role, n, args.secs, tmp)
                ir2, trips2 = measure(binary, role, n, 2 * args.secs, tmp)
                ir, trips = ir2 - ir1, trips2 - trips1
                if trips <= 0:
                    sys.exit(f"{bname} {rname} -c {n}: no more round trips in the longer run")
                rows.append((bname, rname, n, ir, trips))
                print(f"{bname:5} {rname:11} -c {n:5}  {ir:14d} instructions  {trips:8d} round trips"
                      f"  {ir / trips:8.0f} per round trip", flush=True)
    print()
    if args.flow:
        for n in sorted({r[2] for r in rows}):
            flow = next(r for r in rows if r[:3] == ("herd", "flow req", n))
            echo = next(r for r in rows if r[:3] == ("herd", "echo -s 32", n))
            print(f"flow req / echo -c {n:5}: {(flow[3] / flow[4]) / (echo[3] / echo[4]):.2f}x "
                  "instructions per round trip")
    if args.baseline:
        for n in sorted({r[2] for r in rows}):
            for rname, _ in ROLES:
                new = next(r for r in rows if r[:3] == ("herd", rname, n))
                old = next(r for r in rows if r[:3] == ("base", rname, n))
                print(f"{rname:11} -c {n:5}: {new[3] / new[4]:8.0f} vs {old[3] / old[4]:8.0f} "
                      f"instructions per round trip ({(new[3] / new[4]) / (old[3] / old[4]):.3f}x)")


if __name__ == "__main__":
    main()
