"""Loss accounting, checked exactly: tests/peers/mangler.py relays herd's publishers to herd's
subscribers and damages the stream by a fixed script (drop every 10th seq, repeat every 7th,
swap every 13th with its successor), and measures on what it actually wrote to each subscriber
what herd must count: messages.lost, .duplicated, .reordered and .received, per the contract
(DESIGN.md "The stamp"; docs/testing.md has the definitions). herd's counters must equal them.

Timing makes the expectation exact: the subscribers are open before the first message is
published and run on ~3 s past the publishers' end, so nothing is in flight when they stop
(the mangler's report is read only once every connection is closed). A drop at the very end of
a publisher's stream cannot be seen by anyone (no higher seq follows) and is not expected."""
import time

import pytest

from conftest import finish_run, scaled

pytestmark = pytest.mark.peer

KINDS = ("ws", "sse")


def sub_url(m, kind):
    return m.url("/sub") if kind == "ws" else m.url("/sub", "http")


def start_subscribers(m, herd_run_proc, kind, n, *args):
    proc, json_path = herd_run_proc("--role", "subscribe", "-c", n, *args, sub_url(m, kind))
    m.wait_report(lambda r: r["subscribers_open"] >= n or proc.poll() is not None,
                  what=f"{n} subscribers open")
    if proc.poll() is not None:
        pytest.fail(f"the subscribers' herd exited with {proc.returncode}\n"
                    f"{(proc.logdir / 'stderr').read_text()[-3000:]}")
    return proc, json_path


def all_closed(m):
    return m.wait_report(lambda r: r["subscribers_open"] == 0 and r["publishers_open"] == 0,
                         what="every connection closed")


def assert_counts(rep, expected, err=""):
    c = rep["counters"]
    got = {k: c[f"messages.{k}"] for k in ("received", "lost", "duplicated", "reordered")}
    want = {"received": expected["delivered"], "lost": expected["lost"],
            "duplicated": expected["duplicated"], "reordered": expected["reordered"]}
    assert got == want, f"herd counted {got}, the mangler expects {want}\n{err[-2000:]}"
    # Every stamped message that arrives is timed, a repeat too (client/conn.c on_stamp times
    # before it tracks), as test_nchan's exact delivery counts it.
    lat = rep["histograms"]["latency"]["count"]
    assert lat == want["received"], (lat, want)


@pytest.mark.parametrize("kind", KINDS)
def test_mangled_stream_counted_exactly(mangler, herd_run_proc, run_herd, kind):
    m = mangler()
    n_subs = 5
    subs, sub_json = start_subscribers(m, herd_run_proc, kind, n_subs, "-t", 2, "-d", "6s")
    pub = run_herd("--role", "publish", "-c", 2, "--rate", "100/s", "-d", "3s", m.url("/pub"),
                   timeout=20)
    assert pub.code == 0, pub.stderr
    code, rep, err = finish_run(subs, sub_json)
    assert code == 0, err
    exp = all_closed(m)
    # The mangler saw every message herd sent, and the script did something of each kind.
    assert sum(p["received"] for p in exp["publishers"].values()) == \
        pub.report["counters"]["messages.sent"]
    assert len(exp["publishers"]) == 2
    for p in exp["publishers"].values():
        assert p["received"] == p["highest_seq"] >= 250, exp["publishers"]
    total = exp["total"]
    assert len(exp["subscribers"]) == n_subs
    assert total["below_base"] == 0 and total["unstamped"] == 0, total
    assert total["max_reorder_distance"] < 64, total  # within herd's window
    assert total["lost"] >= n_subs * 2 * 24, total
    assert total["duplicated"] >= n_subs * 2 * 35, total
    assert total["reordered"] >= n_subs * 2 * 18, total
    assert_counts(rep, total, err)


def test_late_join_is_no_loss(mangler, herd_run_proc):
    """Subscribers that open while publishing is under way: the first message they get from a
    publisher is the baseline; nothing before it counts as lost. (No swaps, so that a late
    subscriber's first message is never followed by a lower seq.)"""
    m = mangler("--swap-every", "0")
    pubs, pub_json = herd_run_proc("--role", "publish", "-c", 2, "--rate", "100/s", "-d", "4s",
                                   m.url("/pub"))
    m.wait_report(lambda r: sum(p["received"] for p in r["publishers"].values()) >= 100,
                  what="100 messages published")
    subs, sub_json = herd_run_proc("--role", "subscribe", "-c", 5, "-d", "6s", m.url("/sub"))
    pcode, prep, perr = finish_run(pubs, pub_json)
    assert pcode == 0, perr
    code, rep, err = finish_run(subs, sub_json)
    assert code == 0, err
    exp = all_closed(m)
    total = exp["total"]
    assert total["below_base"] == 0, total
    # Each subscriber missed the first ~100 messages; had those counted, lost would exceed
    # the script's drops.
    assert 0 < total["lost"] <= 5 * sum(p["highest_seq"] // 10
                                        for p in exp["publishers"].values()), exp
    assert_counts(rep, total, err)


@pytest.mark.hard_timeout(90)
@pytest.mark.parametrize("kind", KINDS)
def test_state_kept_across_reconnects(mangler, herd_run_proc, run_herd, kind):
    """One subscriber that the mangler kicks after every 100 messages it was sent; herd
    reconnects it after 100 ms. What was published meanwhile never reaches it: herd keeps its
    per-publisher state across the reconnect, so that gap is lost (and the next message is not
    a new baseline), as the mangler's "chained" stream (all of this client's connections, one
    after the other) counts."""
    m = mangler("--kick-after", "100")
    subs, sub_json = start_subscribers(m, herd_run_proc, kind, 1, "-d", "7s", "--reconnect",
                                       "--backoff", "fixed:100ms")
    pub = run_herd("--role", "publish", "-c", 2, "--rate", "100/s", "-d", "3s", m.url("/pub"),
                   timeout=20)
    assert pub.code == 0, pub.stderr
    code, rep, err = finish_run(subs, sub_json)
    assert code == 0, err
    exp = all_closed(m)
    chained = exp["chained"]
    conns = len(exp["subscribers"])
    assert conns >= 5, exp["subscribers"]
    assert rep["counters"]["connections.reconnects"] == conns - 1
    assert chained["below_base"] == 0 and chained["max_reorder_distance"] < 64, chained
    # The gaps of the reconnects add to the script's drops (each connection on its own, with
    # its own baseline, would not count them).
    assert chained["lost"] > exp["total"]["lost"], exp
    assert_counts(rep, chained, err)


def test_mangler_script(mangler):
    """The mangler itself, by hand: the order one subscriber gets for seqs 1..30 of one
    publisher (drop 10, 20, 30; repeat 7, 14, 21, 28; 13 and 26 swapped with their successors)."""
    import socket

    m = mangler()

    def ws_connect(path):
        import base64
        import os
        s = socket.create_connection(("127.0.0.1", m.port), timeout=scaled(5))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        return s

    def send_text(s, text):
        data = text.encode()
        assert len(data) < 126
        mask = b"\x01\x02\x03\x04"
        s.sendall(bytes([0x81, 0x80 | len(data)]) + mask +
                  bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv_text(s):
        def exact(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                assert chunk, "closed"
                buf += chunk
            return buf
        b0, b1 = exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(exact(2), "big")
        assert b0 == 0x81, b0
        return exact(n).decode()

    sub = ws_connect("/sub")
    m.wait_report(lambda r: r["subscribers_open"] == 1)
    pub = ws_connect("/pub")
    for seq in range(1, 31):
        send_text(pub, f"x herd1:3:{seq}:{time.time_ns()} y")
    pub.close()
    got = [int(recv_text(sub).split(":")[2]) for _ in range(30 - 3 + 4)]
    assert got == [1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 11, 12, 14, 14, 13, 15, 16, 17, 18, 19, 21,
                   21, 22, 23, 24, 25, 27, 26, 28, 28, 29], got
    exp = m.wait_report(lambda r: r["publishers_open"] == 0 and r["total"]["delivered"] == 31,
                        what="31 messages delivered")["total"]
    # 10 and 20 lost (30, the last, is invisible), 7 14 21 28 repeated, 13 and 26 late.
    assert (exp["lost"], exp["duplicated"], exp["reordered"]) == (2, 4, 2), exp
    sub.close()


@pytest.mark.hard_timeout(90)
def test_publisher_reconnect_keeps_its_seq(mangler, herd_run_proc, run_herd):
    """The mangler closes each publisher connection after 150 messages; herd reconnects it.
    A publisher is one per run and its seq counts from 1 once per run: after the reconnect it
    goes on above what it sent (or takes a new publisher number), never re-sends seq 1.
    Subscribers then count what the script did, and no repeat of the publisher's own making."""
    m = mangler("--kick-pub-after", "150", "--dup-every", "0", "--swap-every", "0")
    subs, sub_json = start_subscribers(m, herd_run_proc, "ws", 3, "-d", "6s")
    pub = run_herd("--role", "publish", "-c", 2, "--rate", "100/s", "-d", "3s", "--reconnect",
                   "--backoff", "fixed:100ms", m.url("/pub"), timeout=20)
    assert pub.code == 0, pub.stderr
    assert pub.report["counters"]["connections.reconnects"] >= 2, pub.report["counters"]
    code, rep, err = finish_run(subs, sub_json)
    assert code == 0, err
    exp = all_closed(m)
    reused = {p: v["seq_reused"] for p, v in exp["publishers"].items()}
    assert sum(reused.values()) == 0, f"publishers re-sent seqs after reconnecting: {reused}"
    assert exp["total"]["duplicated"] == 0, exp["total"]
    assert_counts(rep, exp["total"], err)
