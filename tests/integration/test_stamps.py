"""Stamps across processes (issue 11, items 3 and 8): publisher ids that never collide between
independent runs (a random run id in the high bits; one id for all the processes of a --procs
run), and what a subscriber says when stamps do collide or lie ahead of its clock: counted
(stamps.collisions, latency.ahead with the most it was ahead), and named in the report's
"warnings" and on stderr."""
import time

from conftest import (drain_until_closed, finish_run, herd_stamp, read_http_head, scaled,
                      ws_accept_head, ws_frame)


def wait_established(port, n, timeout=10):
    """Until n TCP connections to port (IPv4 loopback) are established, seen from the server."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        count = 0
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
                    count += 1
        if count >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{n} connections to port {port} not established")


def test_two_publishing_processes_on_one_topic(herd_serve, herd_run_proc):
    """Two separate `herd run --role publish -c 1` processes on one topic: their publisher ids
    differ, so the subscribers count every message once: no duplicates, no collisions."""
    srv = herd_serve()
    subs, subs_json = herd_run_proc("--role", "subscribe", "-c", 2, "-t", 1, "-d", "5s",
                                    srv.url("/pubsub/t"))
    wait_established(srv.port, 2)
    time.sleep(scaled(0.3))
    pubs = [herd_run_proc("--role", "publish", "-c", 1, "-t", 1, "--rate", "200/s", "-d", "2s",
                          srv.url("/pubsub/t")) for _ in range(2)]
    sent = 0
    for proc, path in pubs:
        code, rep, err = finish_run(proc, path)
        assert code == 0, err
        sent += rep["counters"]["messages.sent"]
    code, rep, err = finish_run(subs, subs_json)
    assert code == 0, err
    c = rep["counters"]
    assert c["messages.duplicated"] == 0, c
    assert c["stamps.collisions"] == 0, c
    assert c["messages.lost"] == 0, c
    assert c["messages.received"] == 2 * sent, (c, sent)
    assert rep["warnings"] == []


def test_procs_runs_keep_their_publishers_apart(herd_serve, herd_run_proc):
    """The processes of one --procs run share one run id (HERD_RUN_ID, set by the parent), and
    two independent --procs runs differ: their shards' publisher ids (connection numbers) would
    otherwise be the same."""
    srv = herd_serve()
    subs, subs_json = herd_run_proc("--role", "subscribe", "-c", 1, "-t", 1, "-d", "6s",
                                    srv.url("/pubsub/p"))
    wait_established(srv.port, 1)
    time.sleep(scaled(0.3))
    pubs = [herd_run_proc("--procs", 2, "--role", "publish", "-c", 2, "-t", 1, "--rate", "100/s",
                          "-d", "2s", srv.url("/pubsub/p")) for _ in range(2)]
    sent = 0
    for proc, path in pubs:
        code, rep, err = finish_run(proc, path, 40)
        assert code == 0, err
        assert rep["shards"] == 2
        sent += rep["counters"]["messages.sent"]
    code, rep, err = finish_run(subs, subs_json)
    assert code == 0, err
    c = rep["counters"]
    assert c["messages.duplicated"] == 0 and c["stamps.collisions"] == 0, c
    assert c["messages.lost"] == 0, c
    assert c["messages.received"] == sent, (c, sent)


def stamp_server(raw_server, messages):
    """A WebSocket server that sends `messages` (bytes each, one text frame each) to every
    connection once it is open, then waits for the client to close."""
    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        conn.sendall(ws_accept_head(head))
        for m in messages:
            conn.sendall(ws_frame(0x1, m))
        drain_until_closed(conn, stop)
    return raw_server(handler)


def test_collision_is_counted_and_warned(raw_server, run_herd):
    """One publisher's stamps replayed with another time base: seq 1..40 stamped now, then seq
    1..40 again stamped 10 s later (a second publisher that took the same id). The replay is
    counted as stamps.collisions, not as duplicates, and the run warns."""
    t0 = time.time_ns() - 20 * 10**9
    first = [herd_stamp(77, seq, t0 + seq * 10**6) for seq in range(1, 41)]
    again = [herd_stamp(77, seq, t0 + 10 * 10**9 + seq * 10**6) for seq in range(1, 41)]
    srv = stamp_server(raw_server, first + again)
    code, rep, err = run_herd("-c", 1, "-t", 1, "-d", "1s", "--role", "subscribe", srv.url("/"))
    assert code == 0, err  # latency was measured: a warning, not an empty run
    c = rep["counters"]
    assert c["stamps.collisions"] == 40, c
    assert c["messages.duplicated"] == 0, c
    assert c["messages.received"] == 80
    assert [w for w in rep["warnings"] if w.startswith("stamps.collisions: 40 ")], rep["warnings"]
    assert "stamps.collisions" in err


def test_stamps_ahead_of_the_clock(raw_server, run_herd):
    """Stamps from a sender whose clock runs 3 s ahead: every stamped message still counts in
    latency (as 0), latency.ahead counts them, latency_ahead.max_us says how far, and the run
    warns that the clocks disagree."""
    ahead_ns = 3 * 10**9
    msgs = [herd_stamp(5, seq, time.time_ns() + ahead_ns) for seq in range(1, 11)]
    msgs += [herd_stamp(5, seq) for seq in range(11, 16)]  # and some from the right clock
    srv = stamp_server(raw_server, msgs)
    code, rep, err = run_herd("-c", 1, "-t", 1, "-d", "1s", "--role", "subscribe", srv.url("/"))
    assert code == 0, err
    c = rep["counters"]
    assert c["messages.received"] == 15
    assert rep["histograms"]["latency"]["count"] == 15  # every stamped message received
    assert c["latency.ahead"] == 10, c
    assert 1_000_000 < rep["latency_ahead"]["max_us"] <= ahead_ns // 1000, rep["latency_ahead"]
    assert rep["latency_ahead"]["count"] == 10
    assert [w for w in rep["warnings"] if w.startswith("latency.ahead: 10 ")], rep["warnings"]
    assert "latency.ahead" in err
