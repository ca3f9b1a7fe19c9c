"""Stamps across processes (issue 11, item 3): publisher ids that never collide between
independent runs (a random run id in the high bits; one id for all the processes of a --procs
run)."""
import time

from conftest import finish_run, scaled


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
