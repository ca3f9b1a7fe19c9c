"""Flows against the real servers of the protocols, installed from npm (tests/peers): Socket.IO 4
(socket.io), GraphQL over WebSocket (graphql-ws on ws) and JSON-RPC 2.0 (json-rpc-2.0 on ws).
Each example of examples/flow-*.yaml runs against its server, and herd's counts are checked
against what the server itself recorded (written to $STATS when it is stopped)."""
import json
import re
import signal

from conftest import REPO, scaled


def run_example(run_herd, tmp_path, name, port, *extra, secs=2):
    """Run examples/NAME against the server on port, for secs (scaled: an ASan build is slower,
    and every connection must get through its steps)."""
    duration = f"{scaled(secs):g}s"
    text = (REPO / "examples" / name).read_text()
    text = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", text)
    text = re.sub(r"(?m)^duration: .*$", f"duration: {duration}", text)
    # tests never assert on timings (a shared machine): the examples' time thresholds go, their
    # count thresholds stay
    text = re.sub(r'(?m)^  - "[a-z_.]+\.p[0-9.]+<[^"]*"\n', "", text)
    path = tmp_path / name
    path.write_text(text)
    return run_herd("-f", path, *extra, timeout=30)


def server_stats(srv, path):
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(timeout=scaled(10))
    return json.loads(path.read_text())


def groups(report):
    g = report["groups"]
    return {x["name"]: x for x in g} if isinstance(g, list) else g


def test_socketio_room_broadcast(peer, run_herd, tmp_path):
    stats = tmp_path / "sio.json"
    srv = peer("socketio", env={"STATS": str(stats)})
    r = run_example(run_herd, tmp_path, "flow-socketio.yaml", srv.port)
    assert r.code == 0, r.stderr
    st = server_stats(srv, stats)
    g = groups(r.report)
    members, speaker = g["members"], g["speaker"]
    # every connection connected and joined, none dropped for a missed heartbeat
    assert st["connections"] == 21 and st["joins"] == 21
    assert "ping timeout" not in st["disconnects"], st
    assert members["histograms"]["steps.join"]["count"] == 20
    assert members["counters"]["flow.completed"] == 20
    # the heartbeats herd answered are the pongs the server counted
    c = r.report["counters"]
    assert st["pongs"] == c["flow.on_matched"] > 0
    # 100 acknowledged adds, each timed
    assert st["adds"] == 100 == speaker["histograms"]["steps.add"]["count"]
    # every chat the server broadcast reached a member and was timed: the server's deliveries
    # are herd's latency samples, the chats herd sent are the server's
    assert st["delivered"] == members["histograms"]["latency"]["count"] > 0
    assert st["chats"] == r.report["counters"]["fanout.messages"]
    assert members["counters"]["messages.lost"] == 0
    assert r.report["errors"]["expect"] == 0 and r.report["errors"]["reply_timeout"] == 0


def test_graphql_ws(peer, run_herd, tmp_path):
    stats = tmp_path / "gql.json"
    srv = peer("graphql_ws", env={"STATS": str(stats)})
    r = run_example(run_herd, tmp_path, "flow-graphql-ws.yaml", srv.port, secs=5)
    assert r.code == 0, r.stderr
    st = server_stats(srv, stats)
    c = r.report["counters"]
    assert st["acks"] == 10
    assert c["flow.completed"] == 10
    # 20 queries and one subscription per connection
    assert c["requests.answered"] == 10 * 20 == r.report["histograms"]["steps.hello"]["count"]
    assert st["subscribes"] == 10 * 21
    assert st["nexts"] == 10 * (20 + 5)
    assert st["completes"] == st["subscribes"]
    # the server's pings were answered (the last ones may cross the end of the run)
    assert st["pings"] > 0 and st["pongs"] >= st["pings"] - 10
    assert r.report["errors"]["expect"] == 0


def test_jsonrpc_with_data(peer, run_herd, tmp_path):
    stats = tmp_path / "rpc.json"
    srv = peer("jsonrpc", env={"STATS": str(stats)})
    users = tmp_path / "users.csv"
    users.write_text("user,token\n" + "".join(f"u{i},tok-{i}\n" for i in range(4)))
    r = run_example(run_herd, tmp_path, "flow-jsonrpc.yaml", srv.port, "--data", users, "-H",
                    "Authorization: Bearer {{data.token}}")
    assert r.code == 0, r.stderr
    st = server_stats(srv, stats)
    c = r.report["counters"]
    assert st["connections"] == 10
    # connection k took row k mod 4
    assert sorted(st["header_tokens"]) == sorted(f"tok-{k % 4}" for k in range(10))
    # every answered request was handled by the server; the server handled nothing herd did not
    # send (those in flight at the end are sent and handled but not answered)
    assert c["requests.answered"] <= st["calls"]["add"] <= c["requests.sent"]
    assert c["requests.sent"] - st["calls"]["add"] <= 10 * 8
    assert r.report["histograms"]["steps.add"]["count"] == c["requests.answered"] > 100
    assert r.report["errors"]["reply_timeout"] == 0


def test_jsonrpc_token_in_query_and_reply(peer, run_herd, tmp_path):
    """{{data.COL}} in the URL's query, and in a reply rule: whoami answers each connection's own
    token, which only its own row matches."""
    stats = tmp_path / "rpc.json"
    srv = peer("jsonrpc", env={"STATS": str(stats)})
    users = tmp_path / "users.csv"
    users.write_text("user,token\nann,t-ann\nbob,t-bob\n")
    flow = tmp_path / "who.yaml"
    flow.write_text("""\
- request:
    name: whoami
    send: '{"jsonrpc":"2.0","id":{{seq}},"method":"whoami"}'
    key: /id
    json: {/result: '{{data.token}}'}
    count: 5
""")
    r = run_herd("--flow", flow, "--data", users, "-c", 4, "-t", 1, "-d", "1s",
                 f"ws://127.0.0.1:{srv.port}/rpc?token={{{{data.token}}}}")
    assert r.code == 0, r.stderr
    st = server_stats(srv, stats)
    assert sorted(st["query_tokens"]) == ["t-ann", "t-ann", "t-bob", "t-bob"]
    assert st["calls"]["whoami"] == 20
    assert r.report["counters"]["requests.answered"] == 20
    assert r.report["counters"]["flow.completed"] == 4
