"""herd serve's own counts, printed on SIGUSR1 and when it stops, checked against what herd run
saw from the other end: connections, messages, and per --slow-policy what the server did to a
subscriber that stopped reading (queued, dropped, closed, and reset when the closed subscriber
never read its 1008)."""
import re
import signal
import time

from conftest import scaled

COUNTS = re.compile(r"herd serve: connections: (.*)$", re.M)


def counts_lines(srv):
    return COUNTS.findall(srv.log.read_text(errors="replace"))


def counts(srv):
    """SIGUSR1, then the numbers of the line it printed, by name."""
    before = len(counts_lines(srv))
    srv.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + scaled(5)
    while len(counts_lines(srv)) == before:
        assert time.monotonic() < deadline, srv.log.read_text(errors="replace")
        time.sleep(0.05)
    line = counts_lines(srv)[-1]
    return {k: int(v) for k, v in re.findall(r"([a-z]+) (\d+)", line)}


def test_counts_match_the_client(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 3, "-d", "1s", "-t", 1, "--role", "echo", "--rate", "50",
                              srv.url("/echo"))
    assert code == 0, err
    c = rep["counters"]
    k = counts(srv)
    # accepted: the fixture's probe for the port (a TCP connect, nothing sent), and the three
    assert k["accepted"] == 4 and k["opened"] == 3, k
    assert k["refused"] == 0
    assert k["received"] == c["messages.sent"] > 0, (k, c)
    assert k["published"] == k["delivered"] == 0
    # And once more as the server stops: the same line, from SIGTERM.
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(timeout=scaled(10))
    assert len(counts_lines(srv)) == 2
    assert srv.proc.returncode == 0


def test_refused_connections(herd_serve, run_herd):
    srv = herd_serve("--max-connections", "4")
    code, rep, err = run_herd("-c", 6, "-d", "1s", "-t", 1, "--role", "idle", srv.url("/echo"))
    assert rep["counters"]["connections.opened"] == 4, err
    k = counts(srv)
    assert (k["accepted"], k["opened"], k["refused"]) == (1 + 6, 4, 2), k  # 1: the port probe


def test_slow_subscriber_closed_then_reset(herd_serve, run_herd):
    # A subscriber that never reads: the kernel's buffers fill, then 16 KiB queue in the server,
    # which then closes it (1008 queued behind those bytes). It never reads the 1008, so after
    # the server's 5 s close deadline the connection is reset: both ends say so.
    srv = herd_serve("--tick", "5000/s", "--slow-policy", "close", "--queue-limit", "16k",
                     "--sndbuf", "8k")
    code, rep, err = run_herd("-c", 1, "-d", "9s", "-t", 1, "--role", "subscribe",
                              "--read-rate", "0", "--allow-empty", srv.url("/pubsub/tick"),
                              timeout=40)
    assert code == 0, err
    assert rep["errors"]["reset"] == 1, rep["errors"]
    assert not rep["errors"]["closed_by_server"]
    k = counts(srv)
    assert k["closed"] == 1 and k["reset"] == 1, k
    assert k["dropped"] == 0
    assert k["queued"] > 0
    assert k["published"] > 0 and k["delivered"] > 0


def test_slow_subscriber_dropped(herd_serve, run_herd):
    # The same stalled subscriber under drop: it stays open, and the server counts the copies it
    # did not give; a subscriber that keeps up beside it loses nothing.
    srv = herd_serve("--tick", "5000/s", "--slow-policy", "drop", "--queue-limit", "16k",
                     "--sndbuf", "8k")
    code, rep, err = run_herd("-c", 1, "-d", "3s", "-t", 1, "--role", "subscribe",
                              "--read-rate", "0", "--allow-empty", srv.url("/pubsub/tick"),
                              timeout=30)
    assert code == 0, err
    assert rep["counters"]["connections.closed"] == 1
    assert rep["errors"]["reset"] == rep["errors"]["eof"] == 0, rep["errors"]
    assert not rep["errors"]["closed_by_server"], rep["errors"]
    k = counts(srv)
    assert k["dropped"] > 0, k
    assert k["closed"] == 0 and k["reset"] == 0, k
    # published goes on after the subscriber left (to nobody): at most what was published
    assert 0 < k["delivered"] + k["dropped"] <= k["published"], k
