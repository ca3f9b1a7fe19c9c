#!/usr/bin/python3
"""connrate.py - new connections per second: plain ws://, TLS wss:// and TLS with --tls-resume,
against `herd serve`, with the `ready` percentiles at each rate, and `openssl speed` as the
crypto ceiling.

    /usr/bin/python3 bench/connrate.py [--modes ws,wss,wss-resume] [--rates-ws 5000,10000,...]
        [--rates-wss ...] [--rates-wss-resume ...] [--ramp 4] [--max-conns 16000]
        [--p99-bound-ms 100] [--no-speed] [--herd build/release-wolfssl/herd [--serve-herd B]]

Server and client share the machine's 2 cores: `herd serve -t 1` is pinned to CPU 0 and
`herd run -t 1` to CPU 1 (taskset), so each has one core. For each mode and rate R (ascending)
it runs

    taskset -c 1 herd run --role idle -c N --connect-rate R -d D -t 1 -q --json F \\
        --bind 127.0.0.2-127.0.0.60 [--cacert cert.pem [--tls-resume]] URL

with N = min(R * ramp, max-conns) (the server holds all N, and one process may hold at most
20 000 descriptors) and D = N/R + 3 s (-d counts from the first open). --bind spreads the
source ports over 59 addresses so that TIME_WAIT never runs out of ports between runs.

A rate is *held* when every connection opened (none failed), the opens per second of the full
seconds of the ramp (time series) were at least 95 % of R, and ready p99 stayed under
--p99-bound-ms. Once two rates in a row are not held, the mode's higher rates are skipped.
Reported per run: opened/N, achieved opens/s, connect/tls/handshake/ready p50 and p99, server
CPU (utime+stime from /proc/PID/stat around the run) and client CPU (wait4) per connection.

--herd names the herd binary (default build/release/herd; build/release-wolfssl/herd is the
`make TLS=wolfssl` one), used for the client and, unless --serve-herd names another, the servers.

The certificate is made here: ECDSA P-256 (`openssl req -newkey ec`), self-signed and given as
--cacert, so a full TLS 1.3 handshake costs the server one ECDSA P-256 sign and two X25519
operations (key generation and derivation), and the client one ECDSA verify (CertificateVerify;
the certificate is the trust anchor itself, whose own signature neither OpenSSL nor wolfSSL
checks: callgrind counts one verify per handshake with each) and two X25519 operations. The
ceiling printed is the client library's own speed on CPU 1: `openssl speed -seconds 3
ecdhx25519 ecdsap256` for OpenSSL, bench/wolfssl_speed.c (built here) for wolfSSL.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
HERD = str(ROOT / "build" / "release" / "herd")  # --herd
SERVE_HERD = HERD  # --serve-herd
BIND = "127.0.0.2-127.0.0.60"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def tls_library(herd):
    """"wolfssl" or "openssl": the TLS library herd links."""
    out = subprocess.run(["ldd", herd], capture_output=True, text=True).stdout
    return "wolfssl" if "libwolfssl" in out else "openssl"


def speed_wolfssl():
    """bench/wolfssl_speed.c on CPU 1: {name: ops/s}."""
    exe = ROOT / "build" / "bench" / "wolfssl_speed"
    exe.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-O2", str(ROOT / "bench" / "wolfssl_speed.c"), "-o", str(exe),
                    "-lwolfssl"], check=True)
    out = subprocess.run(["taskset", "-c", "1", str(exe), "3"], capture_output=True, text=True,
                         timeout=120).stdout
    return {k: float(v) for k, v in (kv.split("=") for kv in out.split())}, out


def speed():
    """openssl speed on CPU 1: {name: ops/s}."""
    if tls_library(HERD) == "wolfssl":
        return speed_wolfssl()
    out = subprocess.run(["taskset", "-c", "1", "openssl", "speed", "-seconds", "3",
                          "ecdhx25519", "ecdsap256"], capture_output=True, text=True,
                         timeout=120).stdout
    res = {}
    m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    if m:
        res["ecdsap256_sign"] = float(m.group(1))
        res["ecdsap256_verify"] = float(m.group(2))
    m = re.search(r"ecdh \(X25519\)\s+\S+s\s+([\d.]+)", out)
    if m:
        res["x25519"] = float(m.group(1))
    return res, out


def one_run(tmp, mode, url, rate, args, server):
    n = min(int(rate * args.ramp), args.max_conns)
    dur = n / rate + 3
    js = tmp / f"{mode}-{rate}.json"
    argv = ["taskset", "-c", "1", HERD, "run", "--role", "idle", "-c", str(n),
            "--connect-rate", str(rate), "-d", f"{dur:.1f}s", "-t", "1", "-q", "--json",
            str(js), "--bind", BIND]
    if mode != "ws":
        argv += ["--cacert", str(tmp / "cert.pem")]
    if mode == "wss-resume":
        argv += ["--tls-resume"]
    argv.append(url)
    # Let the previous run's connections leave the server first.
    for _ in range(100):
        if nfds(server.pid) < 64:
            break
        time.sleep(0.1)
    s0 = cpu_s(server.pid)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    s1 = cpu_s(server.pid)
    err = proc.stderr.read().decode(errors="replace")
    if not js.exists():
        return {"mode": mode, "rate": rate, "n": n, "error": err.strip()[-300:]}
    rep = json.loads(js.read_text())
    c, h = rep["counters"], rep["histograms"]
    # The time series' rows are whole seconds from the start. Opens per second: the median of
    # the rows that lie wholly inside the ramp (ending by N/R); with a ramp under a second, N
    # over the end of the first row that holds all N (a lower bound).
    ts = rep["timeseries"]
    inside = [r["opened"] for r in ts if r["t"] <= n / rate + 0.01]
    if inside:
        achieved = sorted(inside)[len(inside) // 2]
    else:
        done = [r["t"] for r in ts if r["open"] >= n]
        achieved = n / done[0] if done else 0
    opened = c["connections.opened"]
    p = {k: (h[k]["p50_us"], h[k]["p99_us"]) for k in ("connect", "tls", "handshake", "ready")
         if k in h}
    held = (opened == n and c["connections.failed"] == 0 and achieved >= 0.95 * rate
            and "ready" in p and p["ready"][1] < args.p99_bound_ms * 1000)
    return {"mode": mode, "rate": rate, "n": n, "opened": opened,
            "failed": c["connections.failed"], "resumed": c.get("tls.resumed", 0),
            "achieved": achieved, "p": p, "held": held,
            "server_us": (s1 - s0) * 1e6 / max(opened, 1),
            "client_us": (ru.ru_utime + ru.ru_stime) * 1e6 / max(opened, 1),
            "errors": {k: v for k, v in rep["errors"].items() if v},
            "wall": wall}


def fmt_ms(us):
    return f"{us / 1000:.2f}" if us < 100000 else f"{us / 1000:.0f}"


def main():
    global HERD, SERVE_HERD
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="ws,wss,wss-resume")
    ap.add_argument("--rates-ws", default="2000,5000,10000,15000,20000,30000,40000")
    ap.add_argument("--rates-wss", default="500,1000,1250,1500,1750,2000,2500")
    ap.add_argument("--rates-wss-resume", default="1000,1500,2000,2500,3000,4000,5000")
    ap.add_argument("--ramp", type=float, default=4.0)
    ap.add_argument("--max-conns", type=int, default=16000)
    ap.add_argument("--p99-bound-ms", type=float, default=100)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--herd", default=HERD)
    ap.add_argument("--serve-herd")
    args = ap.parse_args()
    HERD = str(Path(args.herd).resolve())
    SERVE_HERD = str(Path(args.serve_herd).resolve()) if args.serve_herd else HERD

    # SIGTERM ends the run through the finally below, which stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not args.no_build:
        subprocess.run(["make", "-s", "-C", str(ROOT), "all"], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="herd-bench-connrate."))
    servers = []
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
                       check=True, capture_output=True)
        ports = {"ws": free_port(), "wss": free_port()}
        plain = subprocess.Popen(["taskset", "-c", "0", SERVE_HERD, "serve", "--port",
                                  str(ports["ws"]), "-t", "1", "-q"])
        servers.append(plain)
        tls = subprocess.Popen(["taskset", "-c", "0", SERVE_HERD, "serve", "--port",
                                str(ports["wss"]), "-t", "1", "-q", "--tls-cert",
                                str(tmp / "cert.pem"), "--tls-key", str(tmp / "key.pem")])
        servers.append(tls)
        wait_port(ports["ws"], plain)
        wait_port(ports["wss"], tls)
        print(f"herd {subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}; "
              f"({HERD} client, TLS: {tls_library(HERD)}; {SERVE_HERD} server, TLS: "
              f"{tls_library(SERVE_HERD)}) server: taskset -c 0 herd serve -t 1; client: taskset -c 1 herd run -t 1 "
              f"--role idle --bind {BIND}; ramp {args.ramp:g} s, at most {args.max_conns} "
              f"connections; held = all opened, >= 95 % of R per second (a lower bound when N/R < 1 s), ready p99 < "
              f"{args.p99_bound_ms:g} ms")
        print("| mode | rate/s | opened/N | opens/s | connect p50/p99 ms | tls p50/p99 ms | "
              "ready p50/p99 ms | resumed | server CPU us/conn | client CPU us/conn | held |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        best = {}
        for mode in args.modes.split(","):
            rates = [int(float(r)) for r in getattr(args, "rates_" + mode.replace("-", "_")).split(",")]
            srv = plain if mode == "ws" else tls
            url = (f"ws://127.0.0.1:{ports['ws']}/echo" if mode == "ws"
                   else f"wss://localhost:{ports['wss']}/echo")
            misses = 0
            for rate in rates:
                r = one_run(tmp, mode, url, rate, args, srv)
                if "error" in r:
                    print(f"| {mode} | {rate} | no report: {r['error']} |||||||||")
                    misses += 1
                else:
                    p = r["p"]
                    col = lambda k: f"{fmt_ms(p[k][0])} / {fmt_ms(p[k][1])}" if k in p else "-"
                    print(f"| {mode} | {rate} | {r['opened']}/{r['n']} | {r['achieved']:.0f} | "
                          f"{col('connect')} | {col('tls')} | {col('ready')} | {r['resumed']} | "
                          f"{r['server_us']:.0f} | {r['client_us']:.0f} | "
                          f"{'yes' if r['held'] else 'no'}"
                          f"{' ' + json.dumps(r['errors']) if r['errors'] else ''} |", flush=True)
                    if r["held"]:
                        best[mode] = r
                        misses = 0
                    else:
                        misses += 1
                if misses >= 2:
                    break
        print()
        for mode, r in best.items():
            print(f"{mode}: highest rate held {r['rate']}/s (ready p99 "
                  f"{fmt_ms(r['p']['ready'][1])} ms), server CPU {r['server_us']:.0f} us and "
                  f"client CPU {r['client_us']:.0f} us per connection")
        if not args.no_speed:
            sp, raw = speed()
            print(f"\n{tls_library(HERD)} crypto speed (CPU 1):", sp)
            if len(sp) == 3:
                srv_us = 1e6 / sp["ecdsap256_sign"] + 2e6 / sp["x25519"]
                cli_us = 1e6 / sp["ecdsap256_verify"] + 2e6 / sp["x25519"]
                res_us = 2e6 / sp["x25519"]
                print(f"crypto per full handshake: server {srv_us:.0f} us (1 sign + 2 X25519) "
                      f"-> ceiling {1e6 / srv_us:.0f}/s per core; client {cli_us:.0f} us "
                      f"(1 verify + 2 X25519) -> {1e6 / cli_us:.0f}/s per core; resumed "
                      f"(psk_dhe_ke, 2 X25519 each side) {res_us:.0f} us -> {1e6 / res_us:.0f}/s")
                for mode, r in best.items():
                    if mode == "ws":
                        continue
                    ceil_s = 1e6 / (res_us if mode == "wss-resume" else srv_us)
                    ceil_c = 1e6 / (res_us if mode == "wss-resume" else cli_us)
                    print(f"{mode}: {r['rate']}/s held = {100 * r['rate'] / ceil_s:.0f} % of the "
                          f"server's crypto ceiling, {100 * r['rate'] / ceil_c:.0f} % of the "
                          f"client's; crypto share of CPU per connection: server "
                          f"{100 * (1e6 / ceil_s) / r['server_us']:.0f} %, client "
                          f"{100 * (1e6 / ceil_c) / r['client_us']:.0f} %")
    finally:
        for s in servers:
            s.terminate()
        for s in servers:
            try:
                s.wait(timeout=10)
            except subprocess.TimeoutExpired:
                s.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
