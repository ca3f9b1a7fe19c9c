"""--stages: the open connection count follows the plan up, holds, comes down with close 1000 and
goes up again on the freed slots; the report says whether each stage reached its target."""
from conftest import usage_error


def test_stages_up_hold_down(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("--stages", "1s:40,1s:40,1s:0", "-t", 2, "--role", "ping",
                              srv.url("/echo"), timeout=30)
    assert code == 0, err
    c = rep["counters"]
    assert c["connections.opened"] == 40
    assert c["connections.peak"] == 40
    assert c["connections.closed"] == 40
    assert c["connections.failed"] == 0
    assert all(v == 0 for k, v in rep["errors"].items() if not isinstance(v, dict)), rep["errors"]
    assert rep["errors"]["closed_by_server"] == {}
    assert [s["target"] for s in rep["stages"]] == [40, 40, 0]
    assert all(s["reached"] for s in rep["stages"]), rep["stages"]
    assert 2.9 <= rep["duration_s"] <= 3.1
    # The ramp is spread over the first second, not all at once.
    first = rep["timeseries"][0]
    assert first["open"] >= 30


def test_stages_reuse_slots(herd_serve, run_herd):
    srv = herd_serve()
    code, rep, err = run_herd("--stages", "500ms:30,1s:30,500ms:10,1s:10,500ms:30,1s:30",
                              "-t", 1, "--role", "idle", srv.url("/echo"), timeout=30)
    assert code == 0, err
    c = rep["counters"]
    # 30 up, 20 closed on the way down, 20 opened again on the freed slots.
    assert c["connections.opened"] == 50
    assert c["connections.peak"] == 30
    assert c["connections.open"] == 30
    assert all(s["reached"] for s in rep["stages"]), rep["stages"]


def test_bad_stages_is_usage_error(run_herd):
    code, rep, err = run_herd("--stages", "30s", "ws://127.0.0.1:9/", timeout=10)
    assert code == 2, err
    usage_error(err, "--stages")
    assert rep is None
