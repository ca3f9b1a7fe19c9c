#!/usr/bin/python3
"""cpu_per_rtt.py - round trips per second and client CPU microseconds per round trip, herd
against the floor client (bench/floor.c), both against one `herd serve` started here.

    /usr/bin/python3 bench/cpu_per_rtt.py [--repeats 3] [--window 10] [--warmup 3]
                                          [--conns 100,10000] [--port 18181]
                                          [--baseline OTHER_HERD_BINARY] [--flow]

The server runs on CPU 0 and each client on CPU 1 (taskset), one thread each. Every case is run
--repeats times, the cases interleaved round by round, and the table gives the median and the
range. Nothing is printed that was not measured in this run.

How a run is measured (steady state only, connection set-up and teardown left out): the client
is started at time S; at S+warmup and at S+warmup+window the script reads utime+stime of the
client process (all its threads) from /proc/PID/stat. The round trips in the same window come
from the client itself, counted on its own clock from its own start:
  - herd: the JSON report's timeseries rows (one per second since the start, `received` =
    pongs + echoes received in that second); the rows for seconds warmup+1 .. warmup+window;
  - floor: its per-second "tick=K ... round_trips=N" lines; N(warmup+window) - N(warmup).
Both clocks start within a few milliseconds of S, so the windows line up to a few ms in 10 s,
and the rate is steady there anyway. The script checks that every connection was open for the
whole window and that the client's ticks came on time.

With --baseline, another herd binary (say, one built from the commit before a change) runs the
same ping and echo cases in the same rounds, interleaved with the others against the same
server, so that a change to the client is judged before and after back to back.

With --flow, a correlated request/reply flow (one request in flight per connection, its reply
found by the JSON pointer /id) runs beside the echo role, and the table ends with the flow's CPU
per round trip over echo's.

On a shared machine other work distorts both figures. A run is flagged DISTURBED when user time
that is neither the client's nor the server's exceeds 5% of a CPU in its window, and is done
again (--retries); the script also waits for an idle second before each run.
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import cpu_ticks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERD = os.path.join(ROOT, "build/release/herd")
FLOOR = os.path.join(ROOT, "build/bench/floor")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU, CLIENT_CPU = "0", "1"
OTHERS_MAX = 0.05  # CPU used by other processes in a window above which a run is flagged

# (label, herd role arguments or None for the floor)
CLIENTS = [
    ("floor", None),
    ("herd ping", ["--role", "ping"]),
    ("herd echo -s 32", ["--role", "echo", "-s", "32", "--binary"]),
]


def cpu_totals():
    """(user + nice, busy) of all CPUs from /proc/stat, in clock ticks; busy = user + nice +
    system + irq + softirq."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1], v[0] + v[1] + v[2] + v[5] + v[6]


def sleep_until(t):
    while True:
        d = t - time.monotonic()
        if d <= 0:
            return
        time.sleep(d)


def wait_quiet(max_wait):
    """Between runs: wait (at most max_wait s) for a second in which the machine is idle, so
    that other work on a shared machine does not land in a window. Returns the seconds waited."""
    t0 = time.monotonic()
    while True:
        a = cpu_totals()[1]
        time.sleep(1)
        busy = (cpu_totals()[1] - a) / CLK_TCK
        waited = time.monotonic() - t0
        if busy <= OTHERS_MAX or waited >= max_wait:
            return waited


def build(herd_too):
    if herd_too:
        subprocess.run(["make", "-s", "-C", ROOT], check=True)
    os.makedirs(os.path.dirname(FLOOR), exist_ok=True)
    subprocess.run(["gcc", "-O2", os.path.join(ROOT, "bench/floor.c"), "-o", FLOOR], check=True)


def run_one(args, port, label, role, conns, tmp, server_pid, binary=HERD):
    """One client run. Returns a dict with the window's figures."""
    duration = args.warmup + args.window + 2  # runs past the window's end
    url = f"ws://127.0.0.1:{port}/echo"
    json_path = os.path.join(tmp, "run.json")
    if role is None:
        cmd = [FLOOR, "127.0.0.1", str(port), "/echo", str(conns), str(duration)]
    else:
        cmd = [binary, "run", "-c", str(conns), "-d", f"{duration}s", "-t", "1", "-q",
               "--json", json_path] + role + [url]
    cmd = ["taskset", "-c", CLIENT_CPU] + cmd
    out = open(os.path.join(tmp, "out.txt"), "w+")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    start = time.monotonic()
    t_a, t_b = start + args.warmup, start + args.warmup + args.window
    sleep_until(t_a)
    c_a, s_a, w_a = cpu_ticks(proc.pid), cpu_ticks(server_pid), time.monotonic()
    all_a = cpu_totals()
    sleep_until(t_b)
    c_b, s_b, w_b = cpu_ticks(proc.pid), cpu_ticks(server_pid), time.monotonic()
    all_b = cpu_totals()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    text = out.read()
    out.close()
    if proc.returncode != 0:
        sys.exit(f"{label} -c {conns} failed ({proc.returncode}):\n{text}")

    if role is None:
        ticks = {int(m[1]): (float(m[2]), int(m[3]), int(m[4]))
                 for m in re.finditer(r"tick=(\d+) at=([\d.]+) open=(\d+) round_trips=(\d+)", text)}
        total = int(re.search(r"round_trips=(\d+) seconds", text)[1])
        a, b = ticks[args.warmup], ticks[args.warmup + args.window]
        for k, (at, _, _) in ((args.warmup, a), (args.warmup + args.window, b)):
            if abs(at - k) > 0.05:
                sys.exit(f"floor tick {k} came at {at:.3f} s: the window is off")
        if a[1] != conns:
            sys.exit(f"floor: only {a[1]} of {conns} connections open at the window's start")
        trips = b[2] - a[2]
    else:
        with open(json_path) as f:
            rep = json.load(f)
        rows = {round(r["t"]): r for r in rep["timeseries"]}
        window = [rows[k] for k in range(args.warmup + 1, args.warmup + args.window + 1)]
        for r in window:
            if r["open"] != conns or r["errors"]:
                sys.exit(f"{label}: at t={r['t']:.1f} {r['open']} open, {r['errors']} errors")
        trips = sum(r["received"] for r in window)
        h = rep["histograms"]
        total = h["steps.rt"]["count"] if "--flow" in role else h["rtt"]["count"]

    secs = w_b - w_a
    cpu_s = (sum(c_b) - sum(c_a)) / CLK_TCK
    srv_s = (sum(s_b) - sum(s_a)) / CLK_TCK
    # Other work on the machine shows as user time that is neither ours nor the server's (both
    # spend almost all their time in the kernel). Kernel time is no such sign: at 10 000
    # connections much of the loopback TCP work (delayed ACKs, timers) runs in softirq charged
    # to no process, so busy - client - server is large even on an idle machine.
    others_s = ((all_b[0] - all_a[0]) - (c_b[0] - c_a[0]) - (s_b[0] - s_a[0])) / CLK_TCK
    kernel_s = (all_b[1] - all_a[1]) / CLK_TCK - cpu_s - srv_s - max(others_s, 0)
    return {
        "rt_s": trips / secs,
        "cpu_us": cpu_s * 1e6 / trips,
        # the user-space part (tick-sampled split of the same time): the client's own code
        "user_us": (c_b[0] - c_a[0]) / CLK_TCK * 1e6 / trips,
        "client_util": cpu_s / secs,
        "server_util": srv_s / secs,
        "other_util": others_s / secs,
        "kernel_util": kernel_s / secs,
        # whole run, set-up and teardown included: for comparison only
        "whole_cpu_us": (ru.ru_utime + ru.ru_stime) * 1e6 / total,
    }


def start_server(port):
    cmd = ["taskset", "-c", SERVER_CPU, HERD, "serve", "--port", str(port), "--threads", "1",
           "-q"]
    srv = subprocess.Popen(cmd)
    for _ in range(100):  # wait for the port to listen
        if subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"],
                          stderr=subprocess.DEVNULL).returncode == 0:
            return srv
        if srv.poll() is not None:
            sys.exit("herd serve exited")
        time.sleep(0.05)
    srv.terminate()
    sys.exit("herd serve did not listen")


def fmt_range(xs, f):
    return f"{f(statistics.median(xs))} [{f(min(xs))}..{f(max(xs))}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--window", type=int, default=10, help="measured seconds")
    ap.add_argument("--warmup", type=int, default=3, help="seconds before the window")
    ap.add_argument("--conns", default="100,10000")
    ap.add_argument("--port", type=int, default=18181)
    ap.add_argument("--max-wait", type=int, default=120,
                    help="most seconds to wait for an idle machine before each run")
    ap.add_argument("--retries", type=int, default=2,
                    help="runs disturbed by other processes are done again, at most this often")
    ap.add_argument("--no-build", action="store_true", help="use build/release/herd as it is")
    ap.add_argument("--baseline", help="another herd binary to measure beside this one")
    ap.add_argument("--flow", action="store_true",
                    help="also a correlated request/reply flow (docs/flows.md), beside echo")
    args = ap.parse_args()
    conn_counts = [int(x) for x in args.conns.split(",")]

    # The floor does not raise its own descriptor limit (herd does): ulimit -n 20000.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(20000, max(conn_counts) + 64)
    if hard != resource.RLIM_INFINITY and hard < want:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} is below the {want} descriptors needed")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))

    build(not args.no_build)
    tmp = tempfile.mkdtemp(prefix="herd-bench-")
    cases_def = list(CLIENTS)
    if args.flow:
        # One request in flight per connection, its key in "id", the reply found by /id: the
        # closed model of the echo case, with the flow's matching and correlation on top. The
        # request is about as long as the echo case's 32 bytes.
        flow = os.path.join(tmp, "rpc.yaml")
        with open(flow, "w") as f:
            f.write("- request:\n    name: rt\n"
                    "    send: '{\"id\":{{seq}},\"p\":\"0123456789abcdef\"}'\n"
                    "    key: /id\n    count: forever\n")
        cases_def.append(("herd flow req", ["--flow", flow]))
    clients = [(label, role, HERD) for label, role in cases_def]
    if args.baseline:
        if not os.access(args.baseline, os.X_OK):
            sys.exit(f"--baseline: {args.baseline} is not an executable")
        clients += [("base" + label[4:], role, os.path.abspath(args.baseline))
                    for label, role in CLIENTS if role is not None]
    cases = [(label, role, binary, n) for n in conn_counts for label, role, binary in clients]
    results = {(label, n): [] for label, _, _, n in cases}
    srv = start_server(args.port)
    try:
        for rep in range(args.repeats):
            for label, role, binary, n in cases:
                for attempt in range(args.retries + 1):
                    waited = wait_quiet(args.max_wait)
                    if waited > 1.5:
                        print(f"(waited {waited:.0f} s for other processes to go quiet)")
                    r = run_one(args, args.port, label, role, n, tmp, srv.pid, binary)
                    disturbed = r["other_util"] > OTHERS_MAX
                    print(f"round {rep + 1}: {label:16} -c {n:5}  {r['rt_s']:9.0f} rt/s  "
                          f"{r['cpu_us']:6.2f} us/rt (user {r['user_us']:4.2f}, "
                          f"whole run {r['whole_cpu_us']:5.2f})  "
                          f"client {r['client_util'] * 100:3.0f}%  "
                          f"server {r['server_util'] * 100:3.0f}%  "
                          f"kernel {r['kernel_util'] * 100:3.0f}%  "
                          f"others {r['other_util'] * 100:3.0f}%"
                          + ("  DISTURBED" if disturbed else ""), flush=True)
                    if not disturbed:
                        break
                results[(label, n)].append(r)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)

    disturbed = sum(r["other_util"] > OTHERS_MAX for rs in results.values() for r in rs)
    if disturbed:
        print(f"\nWARNING: {disturbed} of the runs kept had other processes using more than "
              f"{OTHERS_MAX * 100:.0f}% of a CPU in their window: rerun on a quiet machine")
    print(f"\nmedian [min..max] of {args.repeats} runs; {args.window} s window after "
          f"{args.warmup} s; server and client one thread each on CPUs {SERVER_CPU} and "
          f"{CLIENT_CPU}\n")
    print(f"{'client':16} {'conns':>6} {'round trips/s':>26} {'CPU us/round trip':>24} "
          f"{'ratio to floor':>22} {'of which user us':>22}")
    for label, role, binary, n in cases:
        rs = results[(label, n)]
        floor_med = statistics.median(r["cpu_us"] for r in results[("floor", n)])
        ratios = [r["cpu_us"] / floor_med for r in rs]
        print(f"{label:16} {n:6} {fmt_range([r['rt_s'] for r in rs], lambda x: f'{x:.0f}'):>26} "
              f"{fmt_range([r['cpu_us'] for r in rs], lambda x: f'{x:.2f}'):>24} "
              f"{fmt_range(ratios, lambda x: f'{x:.2f}'):>22} "
              f"{fmt_range([r['user_us'] for r in rs], lambda x: f'{x:.2f}'):>22}")
    if args.flow:
        print()
        for n in conn_counts:
            echo = statistics.median(r["cpu_us"] for r in results[("herd echo -s 32", n)])
            flow = statistics.median(r["cpu_us"] for r in results[("herd flow req", n)])
            print(f"flow / echo CPU per round trip at -c {n}: {flow / echo:.2f}")


if __name__ == "__main__":
    main()
