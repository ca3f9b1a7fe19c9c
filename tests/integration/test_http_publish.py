"""--role publish on an http:// URL: stamped bodies POSTed over keep-alive connections, each
response timed into `post`; against herd serve's POST /publish/TOPIC with SSE subscribers on the
same topic, one scenario measures the broker end to end. A status other than 2xx is counted by
code and the run goes on."""
from conftest import usage_error


def groups(report):
    g = report["groups"]
    return {x["name"]: x for x in g} if isinstance(g, list) else g


def test_post_publishers_sse_subscribers(herd_serve, run_herd, tmp_path):
    srv = herd_serve()
    scen = tmp_path / "s.yaml"
    scen.write_text(f"""\
duration: 2s
threads: 1
groups:
  - name: subs
    url: {srv.url("/sse/t", scheme="http")}
    role: subscribe
    connections: 3
  - name: pubs
    url: {srv.url("/publish/t", scheme="http")}
    role: publish
    rate: 50/s
    connections: 2
    header: ["Content-Type: application/json"]
""")
    r = run_herd("-f", scen, timeout=20)
    assert r.code == 0, r.stderr
    g = groups(r.report)
    pubs, subs = g["pubs"], g["subs"]
    sent = pubs["counters"]["messages.sent"]
    # 2 connections x 50/s x 2 s, give or take the first interval's spread and the end
    assert 160 <= sent <= 210, sent
    # every POST answered 2xx and timed, but those still out at the end
    assert sent - 2 <= pubs["histograms"]["post"]["count"] == pubs["counters"]["messages.received"] <= sent
    assert pubs["errors"]["http_status"] == {}
    # every published message reached every subscriber, each timed one way
    assert subs["counters"]["messages.lost"] == 0
    assert subs["histograms"]["latency"]["count"] >= 3 * (sent - 2)
    assert r.report["fanout"]["messages"] >= sent - 2


def test_closed_model_pipelines(herd_serve, run_herd):
    srv = herd_serve()
    r = run_herd("--role", "publish", "--pipeline", 4, "-c", 2, "-t", 1, "-d", "1s",
                 srv.url("/publish/x", scheme="http"))
    assert r.code == 0, r.stderr
    c = r.report["counters"]
    # a response makes room for the next request: far more than the first 4 per connection
    assert c["messages.sent"] > 100
    assert c["messages.sent"] - 8 <= r.report["histograms"]["post"]["count"] <= c["messages.sent"]


def test_status_counted_by_code(herd_serve, run_herd):
    srv = herd_serve()
    r = run_herd("--role", "publish", "--method", "PUT", "--rate", 10, "-c", 1, "-t", 1, "-d",
                 "1s", "--allow-empty", srv.url("/publish/x", scheme="http"))
    assert r.code == 0, r.stderr
    assert r.report["errors"]["http_status"].get("405", 0) >= 1
    assert r.report["config"]["method"] == "PUT"


def test_bad_method_is_usage_error(run_herd):
    r = run_herd("--role", "publish", "--method", "P O", "http://127.0.0.1:9/x", json=False)
    assert r.code == 2
    usage_error(r.stderr, "--method")


def test_ping_role_on_http_is_usage_error(run_herd):
    r = run_herd("--role", "echo", "http://127.0.0.1:9/x", json=False)
    assert r.code == 2
    usage_error(r.stderr, "--role")
