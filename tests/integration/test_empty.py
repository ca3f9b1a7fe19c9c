"""Runs that measured nothing (issue 11, item 6): at the end herd names the role's main figure
that stayed empty, or the class of failure that ended every connection, in the report's
"warnings" (and on stderr), and such a run exits 4 ("the run measured nothing") instead of 0,
unless --allow-empty says the run means it. Each server here is real: herd serve, or a raw
script that plays the misbehaving server."""
import socket

from conftest import (herd_stamp, read_http_head, scaled, ws_accept_head, ws_frame,
                      drain_until_closed)

EXIT_EMPTY = 4


def warned(rep, *words):
    """The report's warnings that contain every one of words."""
    return [w for w in rep["warnings"] if all(x in w for x in words)]


def ws_server(raw_server, after_open):
    """A raw WebSocket server: answers each upgrade, then after_open(conn, stop)."""
    def handler(conn, stop):
        head = read_http_head(conn, stop)
        if head is None:
            return
        conn.sendall(ws_accept_head(head))
        after_open(conn, stop)
    return raw_server(handler)


def test_subscribe_to_a_topic_nobody_publishes_to(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 3, "-d", "1s", "-t", 1, "--role", "subscribe",
                              srv.url("/pubsub/nobody"))
    assert code == EXIT_EMPTY, err
    assert rep["counters"]["connections.opened"] == 3
    assert rep["counters"]["messages.received"] == 0
    assert warned(rep, "subscribe", "latency"), rep["warnings"]
    assert "latency" in err
    # --allow-empty: the run means it; exit 0, the warning stays.
    code, rep, err = run_herd("-c", 3, "-d", "1s", "-t", 1, "--role", "subscribe",
                              "--allow-empty", srv.url("/pubsub/nobody"))
    assert code == 0, err
    assert warned(rep, "subscribe", "latency"), rep["warnings"]
    assert rep["config"]["allow_empty"] is True


def test_server_that_waits_for_a_message_first(raw_server, run_herd):
    """A server that sends nothing until the client speaks (a subscription message it never
    gets): the subscribers hold open connections and receive nothing."""
    srv = ws_server(raw_server, drain_until_closed)
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--role", "subscribe", srv.url("/"))
    assert code == EXIT_EMPTY, err
    assert rep["counters"]["connections.opened"] == 2
    assert rep["complete"] is True
    assert warned(rep, "latency", "no message arrived"), rep["warnings"]


def test_publish_without_rate(herd_serve, run_herd):
    """Without --rate a publisher is in the closed model: its first message goes out, and the
    reply that would let the next go never comes (5 messages in 2 s)."""
    srv = herd_serve()
    code, rep, err = run_herd("-c", 5, "-d", "2s", "-t", 1, "--role", "publish",
                              srv.url("/pubsub/quiet"))
    assert code == EXIT_EMPTY, err
    assert rep["counters"]["messages.sent"] == 5
    assert warned(rep, "publish", "messages.sent", "--rate"), rep["warnings"]
    # With --rate it measures what a publisher is for.
    code, rep, err = run_herd("-c", 5, "-d", "2s", "-t", 1, "--role", "publish", "--rate",
                              "20/s", srv.url("/pubsub/quiet"))
    assert code == 0, err
    assert rep["counters"]["messages.sent"] > 5
    assert rep["warnings"] == []


def test_echo_without_the_stamp(raw_server, run_herd):
    """An echo server that answers every message with something else: messages come back, none
    carries herd's stamp, so no round trip is timed."""
    def echo_other(conn, stop):
        conn.settimeout(0.2)
        buf = b""
        while not stop.is_set():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            buf += data
            # each masked client frame (small: the stamp) is answered with a fixed text
            while len(buf) >= 6 and len(buf) >= 6 + (buf[1] & 0x7F):
                n = buf[1] & 0x7F
                op = buf[0] & 0x0F
                buf = buf[6 + n:]
                if op == 0x8:
                    conn.sendall(ws_frame(0x8, b"\x03\xe8"))
                    return
                if op in (0x1, 0x2):
                    conn.sendall(ws_frame(0x1, b'{"ok":true}'))

    srv = ws_server(raw_server, echo_other)
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--role", "echo", srv.url("/"))
    assert code == EXIT_EMPTY, err
    c = rep["counters"]
    assert c["messages.sent"] > 0 and c["messages.received"] > 0
    assert "rtt" not in rep["histograms"]
    assert warned(rep, "echo", "rtt", "stamp"), rep["warnings"]


def test_server_closes_every_connection_4001(raw_server, run_herd):
    """Every connection is closed by the server with 4001 right after it opened: the run ends
    (no connection left), the warning names the class and the code."""
    def close_4001(conn, stop):
        conn.sendall(ws_frame(0x8, (4001).to_bytes(2, "big") + b"go away"))
        drain_until_closed(conn, stop)

    srv = ws_server(raw_server, close_4001)
    code, rep, err = run_herd("-c", 4, "-d", "5s", "-t", 1, srv.url("/"), timeout=30)
    assert code == EXIT_EMPTY, err
    assert rep["complete"] is False
    assert rep["errors"]["closed_by_server"] == {"4001": 4}
    w = warned(rep, "every connection ended in an error", "closed_by_server", "4001")
    assert w, rep["warnings"]
    assert "closed_by_server" in err
    # With --allow-empty the exit code says the run went as meant; the report still says what
    # happened.
    code, rep, err = run_herd("-c", 4, "-d", "5s", "-t", 1, "--allow-empty", srv.url("/"),
                              timeout=30)
    assert code == 0, err
    assert warned(rep, "every connection ended in an error"), rep["warnings"]


def test_stamped_subscribe_is_not_empty(raw_server, run_herd):
    """The other side of the rule: a subscriber that got stamped messages measured latency;
    exit 0 and no warning."""
    def send_stamps(conn, stop):
        for seq in range(1, 6):
            conn.sendall(ws_frame(0x1, herd_stamp(7, seq)))
        drain_until_closed(conn, stop)

    srv = ws_server(raw_server, send_stamps)
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--role", "subscribe", srv.url("/"))
    assert code == 0, err
    assert rep["histograms"]["latency"]["count"] == 10
    assert rep["warnings"] == []


def test_scenario_group_that_measured_nothing(herd_serve, run_herd, tmp_path):
    """In a scenario each group's role is judged: a subscriber group on a silent topic makes the
    run exit 4, named by its group, while the echo group measured rtt."""
    srv = herd_serve()
    f = tmp_path / "s.yaml"
    f.write_text(f"""
duration: 1s
threads: 1
groups:
  - name: pingers
    url: {srv.url("/echo")}
    connections: 2
  - name: listeners
    url: {srv.url("/pubsub/silent")}
    role: subscribe
    connections: 2
""")
    code, rep, err = run_herd("-f", f, timeout=30)
    assert code == EXIT_EMPTY, err
    assert warned(rep, "group listeners:", "latency"), rep["warnings"]
    assert not warned(rep, "group pingers:"), rep["warnings"]
    assert rep["groups"]["pingers"]["histograms"]["rtt"]["count"] > 0
    # allow_empty at the top level of the file (a whole-run key) lets it exit 0.
    f.write_text(f.read_text().replace("duration: 1s", "duration: 1s\nallow_empty: true"))
    code, rep, err = run_herd("-f", f, timeout=30)
    assert code == 0, err
    assert warned(rep, "group listeners:", "latency"), rep["warnings"]


def test_procs_judged_on_the_merged_run(herd_serve, run_herd):
    """--procs: each child's share is judged by the parent on the merged figures; a run whose
    processes all measured nothing exits 4 with one warning, not one per process."""
    srv = herd_serve()
    code, rep, err = run_herd("--procs", 2, "-c", 4, "-d", "1s", "-t", 1, "--role", "subscribe",
                              srv.url("/pubsub/none"), timeout=40)
    assert code == EXIT_EMPTY, err
    assert rep["shards"] == 2
    assert len(warned(rep, "latency")) == 1, rep["warnings"]
    assert err.count("latency: no sample") == 1, err


def test_allow_empty_is_refused_in_a_group(run_herd, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("groups:\n  - name: a\n    url: ws://127.0.0.1:1/\n    allow_empty: true\n")
    code, rep, err = run_herd("-f", f, json=False, timeout=scaled(10))
    assert code == 2, err
    assert "allow_empty" in err and "top level" in err, err
