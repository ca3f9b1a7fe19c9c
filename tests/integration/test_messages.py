"""Messages that point the way: the mistakes a new user makes first get a line that says what
happened and what to do, and ambiguous options are refused instead of half-ignored."""
from conftest import usage_error


def test_ws_url_to_an_event_stream(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, srv.url("/sse/news"))
    assert code == 3, err
    assert rep["errors"]["http_status"] == {"200": 2}
    line = [ln for ln in err.splitlines() if "errors.http_status" in ln]
    assert line and "instead of 101" in line[0] and "http://" in line[0], err


def test_http_url_to_a_websocket(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, srv.url("/echo", scheme="http"))
    assert code == 3, err
    assert rep["errors"]["http_status"] == {"426": 2}
    assert any("ws://" in ln for ln in err.splitlines() if "errors.http_status" in ln), err


def test_stages_with_connections_or_duration_is_refused(run_herd):
    for extra in (["-c", "10"], ["-d", "5s"]):
        code, rep, err = run_herd(*extra, "--stages", "1s:5", "ws://127.0.0.1:9/", timeout=10)
        assert code == 2 and rep is None
        usage_error(err, "--stages")


def test_stages_in_a_group_replace_the_inherited_duration(run_herd, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("duration: 5s\ngroups:\n  - name: a\n    url: ws://127.0.0.1:9/\n"
                 "    stages: 1s:5\n")
    code, _, err = run_herd("--check", "-f", f, json=False, timeout=10)
    assert code == 0, err
    f.write_text("groups:\n  - name: a\n    url: ws://127.0.0.1:9/\n    stages: 1s:5\n"
                 "    connections: 3\n")
    code, _, err = run_herd("--check", "-f", f, json=False, timeout=10)
    assert code == 2
    assert f"{f}:4:5: stages:" in err, err


def test_threshold_time_needs_a_unit(run_herd):
    code, rep, err = run_herd("--threshold", "rtt.p99<20", "ws://127.0.0.1:9/", timeout=10)
    assert code == 2 and rep is None
    line = usage_error(err, "--threshold")
    assert "unit" in line
