#!/usr/bin/python3
"""maxconns.py - the most idle WebSocket connections herd holds against herd serve on this
machine, in bounded steps (default 100k, 250k, 500k, 1M).

    /usr/bin/python3 bench/maxconns.py [--targets 100k,250k,500k,1M] [--rate 10000]
        [--hold 30] [--per-proc 19000] [--min-avail-gib 2] [--reserve-gib 4]

One process may hold at most 20 000 descriptors here (hard limit), so a step of N connections
runs K = ceil(N / per-proc) pairs: `herd serve --port P_i -t 1 -q` and

    herd run --role idle -c N/K --connect-rate RATE/K -d (N/RATE + HOLD)s -t 1 -q --json F_i \\
        --timeout 30s --bind 127.0.0.2-127.0.0.60 ws://127.0.0.1:P_i/echo

(every run below its descriptor limit, so each is one process). With --product the step is
instead what a user would type: one `herd serve --procs K --port P -t 1 -q` (K processes on one
port, SO_REUSEPORT) and one `herd run --procs K -c N --connect-rate RATE ... ws://127.0.0.1:P/echo`
(K shards, merged by herd itself into one report). All processes share
the 2 cores, unpinned. While the step runs, the script samples /proc/meminfo and
/proc/net/sockstat every second; it aborts the step (SIGTERM to every process it started, by
PID) when MemAvailable falls below --min-avail-gib. Once the kernel counts 2N TCP sockets in use
(both ends), or at the end of the ramp + 10 s, it takes the snapshot: the summed VmRSS of the
herd run processes and of the herd serve processes, and the kernel's Slab, SUnreclaim,
KernelStack, PageTables and Percpu, sockstat TCP `inuse` and `mem`, all less the baseline taken
before the step. After the runs end, their reports are merged with `herd merge` (connections
.peak of the merged time series, errors by class: ports, descriptors, memory, timeout...).
A step is only started when the memory the previous step used per connection, times the new
N, leaves --reserve-gib available.
"""
import argparse
import json
import math
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import free_port

ROOT = Path(__file__).resolve().parents[1]
HERD = str(ROOT / "build" / "release" / "herd")
BIND = "127.0.0.2-127.0.0.60"
SYSCTLS = ["net/ipv4/ip_local_port_range", "fs/file-max", "fs/nr_open", "net/core/somaxconn",
           "net/ipv4/tcp_mem", "net/ipv4/tcp_max_orphans", "net/ipv4/tcp_max_tw_buckets",
           "net/ipv4/tcp_tw_reuse", "net/ipv4/tcp_max_syn_backlog"]


def count(s):
    s = s.strip().lower()
    mult = {"k": 1000, "m": 1000000}.get(s[-1], 1)
    return int(float(s.rstrip("km")) * mult)


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])  # KiB
    return out


def sockstat():
    out = {}
    with open("/proc/net/sockstat") as f:
        for line in f:
            name, rest = line.split(":", 1)
            vals = rest.split()
            for i in range(0, len(vals) - 1, 2):
                out[f"{name}.{vals[i]}"] = int(vals[i + 1])
    return out


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pids):
    """pids and all their descendants (herd run --procs children)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except OSError:
                pass
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def wait_listening(ports, procs, timeout=20):
    deadline = time.monotonic() + timeout
    for port, proc in zip(ports, procs):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"herd serve on {port} exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"herd serve on {port} does not listen")
                time.sleep(0.05)


def end(procs, grace=15):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def gib(kib):
    return kib / 1048576


def step(n, args, tmp):
    k = math.ceil(n / args.per_proc)
    shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
    ramp = n / args.rate
    dur = ramp + args.hold
    sdir = tmp / f"step-{n}"
    sdir.mkdir()
    base_m, base_s = meminfo(), sockstat()
    ports = [free_port() for _ in range(k)]
    servers, clients, result = [], [], {"n": n, "k": k}
    if args.product:
        ports, shares = ports[:1], [n]
    try:
        for p in ports:
            ks = args.serve_procs or k
            procs = ["--procs", str(ks)] if args.product else []
            servers.append(subprocess.Popen([HERD, "serve", "--port", str(p), "-t", "1", "-q",
                                             *procs],
                                            stdout=subprocess.DEVNULL,
                                            stderr=open(sdir / f"serve-{p}.log", "wb")))
        wait_listening(ports, servers)
        t0 = time.monotonic()
        for i, (p, c) in enumerate(zip(ports, shares)):
            rate = args.rate if args.product else args.rate / k
            procs = ["--procs", str(k)] if args.product else []
            argv = [HERD, "run", "--role", "idle", "-c", str(c), *procs, "--connect-rate",
                    f"{rate:.3f}", "-d", f"{dur:.0f}s", "-t", "1", "-q", "--json",
                    str(sdir / f"run-{i}.json"), "--timeout", "30s", "--bind", args.bind,
                    f"ws://127.0.0.1:{p}/echo"]
            clients.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                            stderr=open(sdir / f"run-{i}.err", "wb")))
        if n == args.targets_list[0]:
            print("  client command (each of K):", " ".join(argv[:-1]), "ws://127.0.0.1:P_i/echo")
        snap, min_avail, peak_inuse, aborted = None, None, 0, None
        deadline = t0 + dur + 90
        while time.monotonic() < deadline:
            time.sleep(1)
            m, s = meminfo(), sockstat()
            min_avail = m["MemAvailable"] if min_avail is None else min(min_avail, m["MemAvailable"])
            inuse = s["TCP.inuse"] - base_s["TCP.inuse"]
            peak_inuse = max(peak_inuse, inuse)
            el = time.monotonic() - t0
            if int(el) % 10 == 0:
                print(f"  t={el:4.0f}s TCP inuse +{inuse} MemAvailable {gib(m['MemAvailable']):.1f} "
                      f"GiB", flush=True)
            if m["MemAvailable"] < args.min_avail_gib * 1048576:
                aborted = (f"MemAvailable {gib(m['MemAvailable']):.2f} GiB < "
                           f"{args.min_avail_gib} GiB at t={el:.0f}s")
                print("  ABORT:", aborted, flush=True)
                break
            if snap is None and (inuse >= 2 * n or el > ramp + 10):
                time.sleep(1 if inuse >= 2 * n else 0)
                m, s = meminfo(), sockstat()
                cl = descendants([c.pid for c in clients])
                snap = {"t": el, "inuse": s["TCP.inuse"] - base_s["TCP.inuse"],
                        "tcp_mem_pages": s["TCP.mem"] - base_s["TCP.mem"],
                        "client_rss": sum(rss_kib(p) for p in cl), "client_procs": len(cl),
                        "server_rss": sum(rss_kib(p)
                                          for p in descendants([s.pid for s in servers])),
                        "used": (base_m["MemAvailable"] - m["MemAvailable"]),
                        **{key: m[key] - base_m[key] for key in
                           ("Slab", "SUnreclaim", "SReclaimable", "KernelStack", "PageTables",
                            "Percpu")}}
                print(f"  snapshot at t={el:.0f}s: {json.dumps(snap)}", flush=True)
            if all(c.poll() is not None for c in clients):
                break
        result.update(snap=snap, min_avail=min_avail, peak_inuse=peak_inuse, aborted=aborted,
                      elapsed=time.monotonic() - t0)
    finally:
        end(clients, grace=20)
        end(servers)
    reports = sorted(sdir.glob("run-*.json"))
    result["reports"] = len(reports)
    if reports:
        mj = sdir / "merged.json"
        subprocess.run([HERD, "merge", "--json", str(mj), *map(str, reports)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        if mj.exists():
            rep = json.loads(mj.read_text())
            c = rep["counters"]
            result["merged"] = {key: c.get(key) for key in
                                ("connections.attempted", "connections.opened",
                                 "connections.failed", "connections.peak")}
            result["errors"] = {key: v for key, v in rep["errors"].items() if v}
            h = rep["histograms"].get("ready")
            if h:
                result["ready_p99_ms"] = h["p99_us"] / 1000
        result["sum_peaks"] = sum(json.loads(r.read_text())["counters"]["connections.peak"]
                                  for r in reports)
    msgs = set()
    for e in sdir.glob("*.err"):
        for line in e.read_text(errors="replace").splitlines():
            msgs.add(line.strip()[:200])
    result["stderr"] = sorted(msgs)[:10]
    # Let the kernel drop the closed sockets before the next step.
    for _ in range(60):
        if sockstat()["TCP.inuse"] - base_s["TCP.inuse"] < 1000:
            break
        time.sleep(1)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", default="100k,250k,500k,1M")
    ap.add_argument("--rate", type=float, default=10000)
    ap.add_argument("--hold", type=float, default=30)
    ap.add_argument("--per-proc", type=int, default=19000)
    ap.add_argument("--min-avail-gib", type=float, default=2)
    ap.add_argument("--reserve-gib", type=float, default=4)
    ap.add_argument("--bind", default=BIND,
                    help="herd run --bind: source addresses (default %(default)s)")
    ap.add_argument("--serve-procs", type=int, default=0,
                    help="with --product: herd serve processes (default: as many as herd run's); "
                         "more leave room for SO_REUSEPORT's uneven spread")
    ap.add_argument("--product", action="store_true",
                    help="one herd serve --procs K and one herd run --procs K per step")
    args = ap.parse_args()
    args.targets_list = [count(t) for t in args.targets.split(",")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    print(f"herd {subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}, "
          f"descriptor limit {hard}, MemTotal {gib(meminfo()['MemTotal']):.1f} GiB")
    for name in SYSCTLS:
        path = "/proc/sys/" + name
        try:
            val = " ".join(open(path).read().split())
        except OSError:
            val = "?"
        print(f"  {name.replace('/', '.')} = {val}")
    tmp = Path(tempfile.mkdtemp(prefix="herd-bench-maxconns."))
    per_conn_kib = None
    results = []
    for n in args.targets_list:
        avail = meminfo()["MemAvailable"]
        if per_conn_kib is not None:
            need = per_conn_kib * n
            if avail - need < args.reserve_gib * 1048576:
                print(f"step {n}: skipped: {per_conn_kib:.1f} KiB per connection (last step) "
                      f"x {n} = {gib(need):.1f} GiB would leave less than {args.reserve_gib} "
                      f"GiB of {gib(avail):.1f} GiB available")
                break
        print(f"step {n}: {math.ceil(n / args.per_proc)} serve + run pairs, {args.rate:g}/s, "
              f"hold {args.hold:g}s", flush=True)
        r = step(n, args, tmp)
        results.append(r)
        print(f"step {n}: {json.dumps({k: v for k, v in r.items()})}", flush=True)
        s = r.get("snap")
        if s and s["inuse"] > 0:
            per_conn_kib = s["used"] / (s["inuse"] / 2)
            print(f"  per connection (both ends, from the snapshot): total "
                  f"{per_conn_kib * 1024:.0f} B; herd run {s['client_rss'] * 1024 / n:.0f} B; "
                  f"herd serve {s['server_rss'] * 1024 / n:.0f} B; kernel slab "
                  f"{s['Slab'] * 1024 / n:.0f} B (unreclaimable {s['SUnreclaim'] * 1024 / n:.0f} B)")
        if r.get("aborted") or (r.get("merged") or {}).get("connections.peak", 0) < n:
            print(f"step {n}: short of the target; not going higher")
            break
    print("\n| target | pairs | peak (merged) | opened | failed | herd run RSS | herd serve RSS | "
          "kernel Slab | memory used (MemAvailable drop) | ready p99 | what stopped it |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        s, m = r.get("snap") or {}, r.get("merged") or {}
        stop = r.get("aborted") or (json.dumps(r.get("errors")) if r.get("errors") else "-")
        print(f"| {r['n']} | {r['k']} | {m.get('connections.peak')} | "
              f"{m.get('connections.opened')} | {m.get('connections.failed')} | "
              f"{gib(s.get('client_rss', 0)):.2f} GiB | {gib(s.get('server_rss', 0)):.2f} GiB | "
              f"{gib(s.get('Slab', 0)):.2f} GiB | {gib(s.get('used', 0)):.2f} GiB | "
              f"{r.get('ready_p99_ms', 0):.0f} ms | {stop} |")
    print(f"\nreports kept in {tmp}")


if __name__ == "__main__":
    main()
