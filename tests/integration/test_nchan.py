"""herd's publish and subscribe roles against an independent broker: nginx + nchan (the `nchan`
fixture in conftest.py). herd's subscribers (WebSocket, or SSE over http://) start first; once
nchan counts them on the channel, herd's publishers (another process) publish stamped messages;
the subscribers run on past the publishers' end, so nothing is still in flight when they stop.
Then every message published reached every subscriber exactly once: received == sent x
subscribers, and nothing lost, duplicated or reordered; also with herd's publishers POSTing over
HTTP (--role publish on http://). Also: a publisher that is not herd
(HTTP POST of stamps in a JSON envelope), channels deleted under the subscribers (herd
reconnects; nchan's buffer hands over what was published meanwhile) and an nginx restart."""
import json
import time
import urllib.error

import pytest

from conftest import error_count, error_total, finish_run, scaled

pytestmark = pytest.mark.peer

KINDS = ("ws", "sse")


def sub_url(nchan, kind, topic):
    """Where a subscriber of kind ws or sse subscribes to topic."""
    if kind == "ws":
        return nchan.url(f"/pubsub/{topic}")
    return nchan.url(f"/sub/{topic}", "http")


def active_subscribers(nchan, topic):
    try:
        status, text = nchan.info(topic)
    except urllib.error.HTTPError:  # 404: no channel yet
        return 0
    for line in text.splitlines():
        if line.startswith("active subscribers:"):
            return int(line.split(":", 1)[1])
    return 0


def wait_subscribers(nchan, topic, n, proc, timeout=10):
    """Until nchan counts at least n subscribers on topic (herd's run proc must live on)."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if active_subscribers(nchan, topic) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"the subscribers' herd exited with {proc.returncode} before all "
                        f"subscribed\n{(proc.logdir / 'stderr').read_text()[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"nchan counts {active_subscribers(nchan, topic)} subscribers on {topic}, "
                f"not {n}, after {scaled(timeout):g}s")


def assert_exact_delivery(rep, expected, err=""):
    """Every message reached every subscriber once, in order, and was timed."""
    c = rep["counters"]
    assert rep["complete"] is True, err
    assert c["messages.received"] == expected, (c, expected, err)
    assert c["messages.lost"] == 0, c
    assert c["messages.duplicated"] == 0, c
    assert c["messages.reordered"] == 0, c
    assert rep["histograms"]["latency"]["count"] == expected, rep["histograms"]["latency"]


@pytest.mark.parametrize("kind", KINDS)
def test_fanout_no_loss(nchan, herd_run_proc, run_herd, kind):
    """2 herd publishers on ws://H/pubsub/t at 50/s for 3 s, 20 herd subscribers (WebSocket on
    the same pub/sub location, or SSE on http://H/sub/t) on 2 threads."""
    n_subs = 20
    subs, sub_json = herd_run_proc("--role", "subscribe", "-c", n_subs, "-t", 2, "-d", "6s",
                                   sub_url(nchan, kind, "t1"))
    wait_subscribers(nchan, "t1", n_subs, subs)
    pub = run_herd("--role", "publish", "-c", 2, "-t", 1, "--rate", "50/s", "-d", "3s",
                   nchan.url("/pubsub/t1"), timeout=20)
    assert pub.code == 0, pub.stderr
    sent = pub.report["counters"]["messages.sent"]
    assert 250 <= sent <= 310, pub.report["counters"]
    assert error_total(pub.report) == 0, pub.report["errors"]
    code, rep, err = finish_run(subs, sub_json)
    assert code == 0, err
    assert error_total(rep) == 0, rep["errors"]
    assert rep["counters"]["connections.opened"] == n_subs
    assert_exact_delivery(rep, sent * n_subs, err)
    lat = rep["histograms"]["latency"]
    # One way on loopback through nginx: well under a second even on a slow (ASan) build.
    assert 0 < lat["min_us"] <= lat["p50_us"] <= lat["max_us"] < scaled(1_000_000), lat


@pytest.mark.parametrize("kind", KINDS)
def test_foreign_publisher_stamps_in_envelope(nchan, herd_run_proc, kind):
    """A publisher that is not herd: HTTP POSTs to nchan whose body wraps the stamp in JSON.
    herd finds the stamp inside the message and times it."""
    n_subs, count = 10, 120
    subs, sub_json = herd_run_proc("--role", "subscribe", "-c", n_subs, "-d", "4s",
                                   sub_url(nchan, kind, "env"))
    wait_subscribers(nchan, "env", n_subs, subs)
    t0 = time.monotonic()
    for seq in range(1, count + 1):
        body = json.dumps({"channel": "env", "data": f"herd1:7:{seq}:{time.time_ns()}",
                           "note": "x" * 40})
        status, _ = nchan.publish("env", body)
        # 201: queued for the channel's subscribers (202 would mean it had none).
        assert status == 201, status
        time.sleep(max(0.0, t0 + seq / 100 - time.monotonic()))  # 100/s
    code, rep, err = finish_run(subs, sub_json)
    assert code == 0, err
    assert error_total(rep) == 0, rep["errors"]
    assert_exact_delivery(rep, count * n_subs, err)


@pytest.mark.parametrize("kind", KINDS)
def test_http_post_publisher(nchan, herd_run_proc, run_herd, kind):
    """herd's publishers over HTTP (--role publish on http://H/pub/t: a POST per message on
    keep-alive connections) to herd's WebSocket or SSE subscribers: every message reaches every
    subscriber once, and every POST's response (nchan's 201 with the channel's info) is timed."""
    n_subs = 10
    subs, sub_json = herd_run_proc("--role", "subscribe", "-c", n_subs, "-d", "5s",
                                   sub_url(nchan, kind, "hp"))
    wait_subscribers(nchan, "hp", n_subs, subs)
    pub = run_herd("--role", "publish", "-c", 2, "-t", 1, "--rate", "50/s", "-d", "2s",
                   nchan.url("/pub/hp", "http"), timeout=20)
    assert pub.code == 0, pub.stderr
    c = pub.report["counters"]
    sent = c["messages.sent"]
    assert 160 <= sent <= 210, c
    assert error_total(pub.report) == 0, pub.report["errors"]
    # every POST answered (nothing left in flight: herd stops after the last response or its
    # grace period) and timed
    assert pub.report["histograms"]["post"]["count"] == c["messages.received"] >= sent - 2
    code, rep, err = finish_run(subs, sub_json)
    assert code == 0, err
    assert error_total(rep) == 0, rep["errors"]
    assert_exact_delivery(rep, sent * n_subs, err)


@pytest.mark.hard_timeout(90)
@pytest.mark.parametrize("kind", KINDS)
def test_channel_deleted_subscribers_reconnect(nchan, herd_run_proc, kind):
    """The channel is deleted twice under 20 subscribers (nchan closes them: WebSocket close
    1001, SSE end of stream). herd reconnects each of them; the publishers (ws://H/pub/t,
    publish only, not closed by a delete) go on, and the next publish re-creates the channel,
    whose buffer hands a reconnecting subscriber what was published while it was away
    (nchan_subscriber_first_message oldest). herd's per-publisher state survives the reconnect:
    over WebSocket no message is counted lost or duplicated, and all of them arrive; over SSE
    herd resumes with Last-Event-ID, which nchan applies to the new channel (see below)."""
    n_subs, deletes = 20, 2
    subs, sub_json = herd_run_proc("--role", "subscribe", "-c", n_subs, "-t", 2, "-d", "7s",
                                   "--reconnect", "--backoff", "fixed:100ms",
                                   sub_url(nchan, kind, "rc"))
    wait_subscribers(nchan, "rc", n_subs, subs)
    pubs, pub_json = herd_run_proc("--role", "publish", "-c", 2, "--rate", "50/s", "-d", "4s",
                                   nchan.url("/pub/rc"))
    time.sleep(1.2)
    for i in range(deletes):
        status, _ = nchan.delete("rc")
        assert status == 200, status
        time.sleep(1.2)
    pcode, prep, perr = finish_run(pubs, pub_json)
    assert pcode == 0, perr
    sent = prep["counters"]["messages.sent"]
    assert 350 <= sent <= 410, prep["counters"]
    assert prep["counters"]["connections.reconnects"] == 0
    code, rep, err = finish_run(subs, sub_json)
    assert code == 0, err
    c = rep["counters"]
    assert c["connections.reconnects"] == n_subs * deletes, c
    assert c["connections.opened"] == n_subs * (deletes + 1), c
    assert rep["histograms"]["reconnect"]["count"] == n_subs * deletes
    if kind == "ws":
        assert rep["errors"]["closed_by_server"] == {"1001": n_subs * deletes}, rep["errors"]
        assert_exact_delivery(rep, sent * n_subs, err)
    else:
        assert error_count(rep, "eof") == n_subs * deletes, rep["errors"]
        # herd's SSE client resumes with Last-Event-ID, an id of the deleted channel; nchan
        # then skips the new channel's messages whose ids (<unix second>:<index>) are not
        # above it, which is loss that herd must count: every message arrived once or is lost.
        c = rep["counters"]
        assert c["messages.received"] + c["messages.lost"] == sent * n_subs, c
        assert c["messages.duplicated"] == 0 and c["messages.reordered"] == 0, c
        assert rep["histograms"]["latency"]["count"] == c["messages.received"]


@pytest.mark.hard_timeout(90)
def test_nginx_restart_everyone_reconnects(nchan, herd_run_proc):
    """nginx stops (every connection drops, the in-memory channels are gone) and starts again
    on the same port 0.5 s later. herd's publishers and subscribers reconnect and the messages
    flow again; what was published into the void while the subscribers were away is lost to
    them, so only bounds are asserted on loss."""
    n_subs = 10
    subs, sub_json = herd_run_proc("--role", "subscribe", "-c", n_subs, "-d", "7s",
                                   "--reconnect", "--backoff", "fixed:200ms",
                                   nchan.url("/pubsub/rs"))
    wait_subscribers(nchan, "rs", n_subs, subs)
    pubs, pub_json = herd_run_proc("--role", "publish", "-c", 2, "--rate", "50/s", "-d", "4s",
                                   "--reconnect", "--backoff", "fixed:200ms",
                                   nchan.url("/pub/rs"))
    time.sleep(1.5)
    nchan.stop()
    time.sleep(0.5)
    nchan.start()
    pcode, prep, perr = finish_run(pubs, pub_json)
    assert pcode == 0, perr
    assert prep["counters"]["connections.reconnects"] == 2, prep["counters"]
    code, rep, err = finish_run(subs, sub_json)
    assert code == 0, err
    c = rep["counters"]
    assert c["connections.reconnects"] == n_subs, c
    assert rep["histograms"]["reconnect"]["count"] == n_subs
    assert rep["histograms"]["reconnect"]["min_us"] >= 400_000  # nginx was down for 0.5 s
    # Messages arrived after the restart: the rows of the time series after the one with the
    # reconnects (the publishers ran ~2 s past it) received some.
    rows = rep["timeseries"]
    first = next(i for i, row in enumerate(rows) if row["reconnects"] > 0)
    assert sum(row["received"] for row in rows[first + 1:]) > 0, rows
    sent = prep["counters"]["messages.sent"]
    assert 0 < c["messages.received"] <= sent * n_subs, (c, sent)
    assert c["messages.duplicated"] == 0, c
    assert c["messages.reordered"] == 0, c
    # Loss happens only around the restart: at most what 2 publishers at 50/s send in a couple
    # of seconds, per subscriber.
    assert c["messages.lost"] <= n_subs * 2 * 50 * 2.5, c
