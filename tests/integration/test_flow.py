"""Flows (--flow F, a scenario group's flow:): conversations against herd serve. Correlated
requests are timed into steps.<name> (usable in thresholds), counted as sent and answered; an
expect that sees no match in time is errors.expect and a reply that never comes errors.reply_timeout,
neither blocking the other connections; `on` rules answer standing messages; after its steps a
built-in role carries on (subscribe times the broadcast); mistakes are FILE:LINE:COLUMN with exit
2 before any connection; --check prints the compiled program."""
import pytest

from conftest import scaled


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


RPC = """\
- send: '{"hello":{{conn}}}'
- expect:
    json: {/hello: "{{conn}}"}
    timeout: 5s
- request:
    name: add
    send: '{"jsonrpc":"2.0","id":{{seq}},"method":"add"}'
    key: /id
    json: {/jsonrpc: "2.0"}
    count: forever
    in_flight: 4
"""


def test_request_reply_correlated(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    flow = write(tmp_path, "rpc.yaml", RPC)
    r = run_herd("--flow", flow, "-c", 4, "-t", 1, "-d", "2s", "--threshold",
                 "steps.add.p99<5s", "--threshold", "steps.add.count>100", srv.url("/echo"))
    assert r.code == 0, r.stderr
    c = r.report["counters"]
    h = r.report["histograms"]["steps.add"]
    assert c["requests.answered"] == h["count"] > 100
    # every request answered but those still in flight (at most 4 per connection) at the end
    assert c["requests.sent"] - 16 <= c["requests.answered"] <= c["requests.sent"]
    # one hello per connection, then only requests; the server echoes them: nothing unmatched
    assert c["messages.sent"] == c["requests.sent"] + 4
    assert c["requests.answered"] + 4 <= c["messages.received"] <= c["messages.sent"]
    assert c["flow.unmatched"] == 0
    assert r.report["errors"]["expect"] == 0 and r.report["errors"]["reply_timeout"] == 0
    assert r.report["config"]["role"] == "flow"
    assert {t["expr"] for t in r.report["thresholds"]} >= {"steps.add.p99<5s"}


def test_open_model_rate(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    flow = write(tmp_path, "rpc.yaml", RPC.replace("in_flight: 4", "rate: 50/s"))
    r = run_herd("--flow", flow, "-c", 2, "-t", 1, "-d", "2s", srv.url("/echo"))
    assert r.code == 0, r.stderr
    c = r.report["counters"]
    # 2 connections x 50/s x 2 s, give or take the spread of the first send and the end
    assert 150 <= c["requests.sent"] <= 210, c
    assert c["requests.answered"] >= c["requests.sent"] - 4


def test_misses_are_counted_and_block_nobody(herd_serve, run_herd, tmp_path):
    """/pubsub sends nothing back to the sender: every expect misses (errors.expect, the
    connection fails) in one group; in the other, every request's reply never comes
    (errors.reply_timeout) while the requests go on. The other connection's requests carry the
    same keys: the reply rule (/c is this connection) keeps them from counting as replies."""
    srv = herd_serve()
    scen = write(tmp_path, "s.yaml", f"""\
duration: 2s
threads: 1
groups:
  - name: expecting
    url: {srv.url("/pubsub/a")}
    connections: 3
    flow:
      - send: 'hi'
      - expect: {{contains: 'never', timeout: 300ms}}
  - name: asking
    url: {srv.url("/pubsub/b")}
    connections: 2
    flow:
      - request: {{name: lost, send: '{{"id":{{{{seq}}}},"c":{{{{conn}}}}}}', key: /id,
                   json: {{/c: '{{{{conn}}}}'}}, count: forever, in_flight: 2, timeout: 200ms}}
""")
    r = run_herd("-f", scen, "--allow-empty", timeout=20)
    assert r.code == 0, r.stderr
    g = {x["name"]: x for x in r.report["groups"]} if isinstance(r.report["groups"], list) \
        else r.report["groups"]
    e = g["expecting"]["errors"]
    assert e["expect"] == 3
    a = g["asking"]
    # 2 s with 2 in flight per connection and 200 ms timeouts: about 2 x 2 x 9 timeouts
    assert 20 <= a["errors"]["reply_timeout"] <= 2 * 2 * 11, a["errors"]
    assert a["counters"]["requests.answered"] == 0
    assert a["counters"]["requests.sent"] >= a["errors"]["reply_timeout"]
    assert a["counters"]["flow.unmatched"] > 0  # the other connection's requests


def test_on_rules_answer_heartbeats(herd_serve, run_herd, tmp_path):
    """Socket.IO-style heartbeat over echo: we send 2, the echo is answered 3 by the on rule,
    whose echo is only counted."""
    srv = herd_serve()
    flow = write(tmp_path, "hb.yaml", """\
- repeat: 5
  steps:
    - send: '2'
    - sleep: 20ms
- on: {regex: '^2$', reply: '3'}
- on: {regex: '^3$'}
""")
    r = run_herd("--flow", flow, "-c", 2, "-t", 1, "-d", "1s", srv.url("/echo"))
    assert r.code == 0, r.stderr
    c = r.report["counters"]
    assert c["flow.completed"] == 2
    assert c["flow.on_matched"] == 2 * 5 * 2
    assert c["messages.sent"] == 2 * 5 * 2
    assert c["flow.unmatched"] == 0


def test_then_subscribe_after_setup(herd_serve, run_herd, tmp_path):
    """Authenticate (a hello, its echo on another connection is not needed), then subscribe:
    the broadcast of a publisher group is timed one way, as the subscribe role does."""
    srv = herd_serve()
    scen = write(tmp_path, "s.yaml", f"""\
duration: 2s
threads: 1
groups:
  - name: subs
    url: {srv.url("/pubsub/t")}
    connections: 3
    flow:
      - sleep: 10ms
      - then: subscribe
  - name: pub
    url: {srv.url("/pubsub/t")}
    role: publish
    rate: 20/s
    connections: 1
""")
    r = run_herd("-f", scen, timeout=20)
    assert r.code == 0, r.stderr
    g = {x["name"]: x for x in r.report["groups"]} if isinstance(r.report["groups"], list) \
        else r.report["groups"]
    subs = g["subs"]
    assert subs["counters"]["flow.completed"] == 3
    assert subs["histograms"]["latency"]["count"] >= 3 * 20


@pytest.mark.parametrize("text,where", [
    ("- bogus: 1\n", ":1:3:"),
    ("- send: 'a'\n- send: '{{nope}}'\n", ":2:9:"),
    ("- expect: {regex: '('}\n", ":1:19:"),
    ("- expect: {json: {'x': 1}}\n", ":1:19:"),
    ("- send: '{{data.token}}'\n", ":1:9:"),
    ("- send: 'a'\n  extra: 1\n", ":2:3:"),
])
def test_bad_flow_is_usage_error(run_herd, tmp_path, text, where):
    flow = write(tmp_path, "bad.yaml", text)
    # port 9 (discard): nothing listens; a connection attempt would fail, not exit 2
    r = run_herd("--flow", flow, "-d", "1s", "ws://127.0.0.1:9/", json=False)
    assert r.code == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"bad.yaml{where}" in lines[0], r.stderr


def test_check_prints_the_program(run_herd, tmp_path):
    flow = write(tmp_path, "rpc.yaml", RPC)
    r = run_herd("--flow", flow, "--check", "ws://127.0.0.1:9/", json=False)
    assert r.code == 0, r.stderr
    assert "3 steps" in r.stdout and "steps.add" in r.stdout and "key /id" in r.stdout


def test_scenario_flow_file_errors(run_herd, tmp_path):
    """flow: FILE in a group: a file that is not there is the scenario's FILE:LINE:COLUMN; a
    mistake inside the flow file is that file's."""
    bad = write(tmp_path, "bad.yaml", "- send: a\n- wat: 1\n")
    for flow, where in (("missing.yaml", "s.yaml:4:5: flow: missing.yaml"),
                        (bad, "bad.yaml:2:3:")):
        scen = write(tmp_path, "s.yaml", f"groups:\n  - name: a\n    url: ws://127.0.0.1:9/\n"
                                         f"    flow: {flow}\n")
        r = run_herd("-f", scen, "--check", json=False)
        assert r.code == 2, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and where in lines[0], r.stderr
