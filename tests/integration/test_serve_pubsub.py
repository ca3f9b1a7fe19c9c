"""herd serve ws://H/pubsub/<topic>: broadcast to every other connection on the topic, across
threads; --tick; --slow-policy drop|close with --queue-limit; and herd's own subscribe role
against it. The clients are Debian's python3-websockets (asyncio), run in this process."""
import asyncio
import re
import socket
import threading
import time

import pytest

from conftest import _need_python_websockets, scaled


@pytest.fixture(autouse=True)
def _websockets():
    _need_python_websockets()


def connect(url, **kw):
    import websockets
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", None)
    return websockets.connect(url, **kw)


async def recv_n(ws, n, timeout):
    out = []
    deadline = time.monotonic() + scaled(timeout)
    while len(out) < n:
        out.append(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
    return out


async def silent(ws, wait=0.3):
    """True when nothing arrives on ws within `wait` seconds."""
    try:
        await asyncio.wait_for(ws.recv(), wait)
        return False
    except asyncio.TimeoutError:
        return True


def test_broadcast_in_order_not_to_sender(herd_serve):
    srv = herd_serve()

    async def main():
        subs = [await connect(srv.url("/pubsub/t1")) for _ in range(3)]
        other = await connect(srv.url("/pubsub/t2"))
        pub = await connect(srv.url("/pubsub/t1"))
        msgs = [f"m{i}" for i in range(200)]
        for m in msgs:
            await pub.send(m)
        await pub.send(b"\x00\x01binary")
        for s in subs:
            got = await recv_n(s, len(msgs) + 1, 10)
            assert got[:-1] == msgs
            assert got[-1] == b"\x00\x01binary"
        assert await silent(pub), "the publisher got its own message"
        assert await silent(other), "topic t2 got a message of t1"
        # A subscriber publishes too: the others (and the first publisher) get it, not itself.
        await subs[0].send("from-sub")
        for ws in (subs[1], subs[2], pub):
            assert await recv_n(ws, 1, 5) == ["from-sub"]
        assert await silent(subs[0])
        for ws in subs + [other, pub]:
            await ws.close()

    asyncio.run(main())


def test_fragmented_message_is_broadcast_whole(herd_serve):
    srv = herd_serve()

    async def main():
        sub = await connect(srv.url("/pubsub/frag"))
        pub = await connect(srv.url("/pubsub/frag"))
        await pub.send(["part1-", "part2-", "x" * 70000])  # an iterable: sent as fragments
        await pub.send("after")
        assert await recv_n(sub, 2, 5) == ["part1-part2-" + "x" * 70000, "after"]
        await sub.close()
        await pub.close()

    asyncio.run(main())


def test_two_threads_twenty_subscribers(herd_serve):
    srv = herd_serve("--threads", "2")

    async def main():
        subs = [await connect(srv.url("/pubsub/t1")) for _ in range(20)]
        pub = await connect(srv.url("/pubsub/t1"))
        msgs = [f"n{i}" for i in range(300)]
        for m in msgs:
            await pub.send(m)
        results = await asyncio.gather(*(recv_n(s, len(msgs), 15) for s in subs))
        for got in results:
            assert got == msgs
        assert await silent(pub)
        for ws in subs + [pub]:
            await ws.close()

    asyncio.run(main())


STAMP = re.compile(r"^herd1:0:(\d+):(\d+)$")


def test_tick(herd_serve):
    srv = herd_serve("--tick", "50", "--threads", "2")

    async def main():
        subs = [await connect(srv.url("/pubsub/tick")) for _ in range(4)]
        got = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:
            try:
                got.append(await asyncio.wait_for(subs[0].recv(), 0.1))
            except asyncio.TimeoutError:
                pass
        stamps = []
        for m in got:
            mm = STAMP.match(m)
            assert mm, m
            stamps.append((int(mm.group(1)), int(mm.group(2))))
            assert abs(stamps[-1][1] - time.time_ns()) < scaled(5) * 1e9
        seqs = [s for s, _ in stamps]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        # The rate, from the stamps' own times over the last 2 s seen.
        last = stamps[-1][1]
        n = sum(1 for _, t in stamps if t > last - 2e9)
        assert 80 <= n <= 120, n
        # Every subscriber (on either thread) got the same messages: its own run of seqs
        # without a gap (it joined a moment later), the same message for every seq both saw,
        # up to the last one the first subscriber read.
        mine = dict(zip(seqs, got))
        for s in subs[1:]:
            other = await recv_n(s, len(got), 5)
            theirs = {int(STAMP.match(m).group(1)): m for m in other}
            run = sorted(theirs)
            assert run == list(range(run[0], run[0] + len(other))), run
            assert seqs[-1] in theirs
            assert all(theirs[k] == mine[k] for k in theirs.keys() & mine.keys())
        for s in subs:
            await s.close()

    asyncio.run(main())


def stalled_socket(port):
    """A connected socket with a tiny receive buffer: a subscriber that stops reading."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    return s


async def publish_10mb(pub, size=20000, count=500):
    payload = "y" * (size - 10)
    for i in range(count):
        await pub.send(f"{i:09d}:{payload}")
        if i % 10 == 9:
            await asyncio.sleep(0.01)
    return count


def test_slow_policy_drop(herd_serve):
    srv = herd_serve("--slow-policy", "drop", "--queue-limit", "64k", "--threads", "2")

    async def main():
        readers = [await connect(srv.url("/pubsub/big")) for _ in range(2)]
        stalled = await connect(srv.url("/pubsub/big"), sock=stalled_socket(srv.port),
                                max_queue=1, read_limit=4096)
        pub = await connect(srv.url("/pubsub/big"))
        tasks = [asyncio.create_task(recv_n(r, 500, 60)) for r in readers]
        n = await publish_10mb(pub)
        for t in tasks:
            got = await t
            assert [int(m[:9]) for m in got] == list(range(n))
        # Now read what the stalled one got: less than everything, in order, no duplicates.
        got = []
        while True:
            try:
                got.append(await asyncio.wait_for(stalled.recv(), 1.0))
            except asyncio.TimeoutError:
                break
        idx = [int(m[:9]) for m in got]
        assert len(idx) < n
        assert idx == sorted(set(idx))
        for ws in readers + [stalled, pub]:
            await ws.close()

    asyncio.run(main())


def test_slow_policy_close(herd_serve):
    import websockets
    srv = herd_serve("--slow-policy", "close", "--queue-limit", "64k")

    async def main():
        reader = await connect(srv.url("/pubsub/big"))
        stalled = await connect(srv.url("/pubsub/big"), sock=stalled_socket(srv.port),
                                max_queue=1, read_limit=4096)
        pub = await connect(srv.url("/pubsub/big"))
        task = asyncio.create_task(recv_n(reader, 500, 60))
        n = await publish_10mb(pub)
        got = await task
        assert [int(m[:9]) for m in got] == list(range(n))
        count = 0
        with pytest.raises(websockets.ConnectionClosed) as ei:
            while True:
                await asyncio.wait_for(stalled.recv(), scaled(5))
                count += 1
        e = ei.value
        code = e.rcvd.code if e.rcvd is not None else e.code
        assert code == 1008
        assert count < n
        assert reader.open
        for ws in (reader, pub):
            await ws.close()

    asyncio.run(main())


def test_herd_subscribe_role_latency(herd_serve, run_herd):
    srv = herd_serve("--threads", "2")
    sent = [0]

    def publisher():
        async def main():
            await asyncio.sleep(0.7)  # herd's subscribers connect first
            async with connect(srv.url("/pubsub/t1")) as pub:
                seq = 0
                t0 = time.monotonic()
                while time.monotonic() - t0 < 3.5:
                    seq += 1
                    await pub.send(f"herd1:1:{seq}:{time.time_ns()}")
                    sent[0] = seq
                    await asyncio.sleep(max(0.0, t0 + seq / 100 - time.monotonic()))

        asyncio.run(main())

    th = threading.Thread(target=publisher, daemon=True)
    th.start()
    code, rep, err = run_herd("--role", "subscribe", "-c", 50, "-d", "3s", "-t", 2,
                              srv.url("/pubsub/t1"), timeout=30)
    th.join(scaled(10))
    assert code == 0, err
    lat, c = rep["histograms"]["latency"], rep["counters"]
    # ~100/s for the ~2.3 s of herd's window after the publisher started, to 50 subscribers.
    assert lat["count"] >= 50 * 100, lat
    assert lat["count"] <= 50 * sent[0], (lat, sent[0])
    # Every message that arrived was timed; in order, from one publisher, nothing lost.
    assert lat["count"] == c["messages.received"], (lat, c)
    assert (c["messages.lost"], c["messages.duplicated"], c["messages.reordered"]) == (0, 0, 0), c
