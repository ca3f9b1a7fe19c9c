"""Fixtures for herd's integration tests (pytest, run with Debian's /usr/bin/python3).

Everything a test starts is a child process in its own session, tracked by PID and ended by
that PID (its process group) when the test ends, never by name. Every wait has a deadline scaled
by HERD_TIMEOUT_MULT (3 by default when HERD_BUILD=asan), and every test has a hard time limit
(default 60 s, `@pytest.mark.hard_timeout(SECONDS)` to change it), like libuv's
UV_TEST_TIMEOUT_MULTIPLIER.

Tests assert on exit codes and the JSON report (DESIGN.md, report version 1), never on human
output.

Environment:
  HERD               the binary under test (default: build/release/herd in the repo)
  HERD_BUILD         release | asan (asan scales timeouts by 3)
  HERD_TIMEOUT_MULT  explicit timeout multiplier
  HERD_REQUIRE_PEERS =1: a missing peer program fails the test instead of skipping it (CI)
"""
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / "tests" / "peers"
HERD = os.environ.get("HERD") or str(REPO / "build" / "release" / "herd")
HERD_BUILD = os.environ.get("HERD_BUILD", "release")
TIMEOUT_MULT = float(os.environ.get("HERD_TIMEOUT_MULT") or (3 if HERD_BUILD == "asan" else 1))
DEFAULT_HARD_TIMEOUT = 60.0
SYSTEM_PYTHON = "/usr/bin/python3"

# Sanitizer failures get their own exit code, so they are never mistaken for herd's 1/2/3.
SANITIZER_EXIT = 86
CHILD_ENV = dict(os.environ)
CHILD_ENV.setdefault("ASAN_OPTIONS", f"exitcode={SANITIZER_EXIT}:abort_on_error=0:detect_leaks=1")
CHILD_ENV.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
CHILD_ENV.setdefault("LSAN_OPTIONS", f"exitcode={SANITIZER_EXIT}")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")


def scaled(seconds):
    """A timeout in seconds, scaled for slow (sanitizer) builds."""
    return seconds * TIMEOUT_MULT


def pytest_configure(config):
    # Children inherit the raised limit: many connections need many descriptors.
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def pytest_report_header(config):
    return f"herd: {HERD} (build {HERD_BUILD}, timeout x{TIMEOUT_MULT:g})"


# ---------------------------------------------------------------------------------------------
# hard timeout per test


class HardTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _hard_timeout(request):
    marker = request.node.get_closest_marker("hard_timeout")
    limit = scaled(marker.args[0] if marker else DEFAULT_HARD_TIMEOUT)

    def on_alarm(signum, frame):
        raise HardTimeout(f"test exceeded its hard timeout of {limit:g}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------------------------
# processes, ended by PID


def _end_process(proc, grace=5.0):
    """End proc and its process group (it was started in its own session, so the group id is
    its PID): SIGTERM, then SIGKILL after the grace period. Returns the exit status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=scaled(grace))
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left of the group (e.g. websocketd's per-connection children).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        return proc.wait(timeout=scaled(5))
    except subprocess.TimeoutExpired:
        return None


class ProcessSet:
    """The processes one test started; all ended by PID at teardown."""

    def __init__(self):
        self.procs = []

    def spawn(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("env", CHILD_ENV)
        proc = subprocess.Popen([str(a) for a in argv], start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    def end_all(self):
        for proc in reversed(self.procs):
            _end_process(proc)


@pytest.fixture
def procs():
    ps = ProcessSet()
    yield ps
    ps.end_all()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(name="free_port")
def free_port_fixture():
    return free_port


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port, proc, timeout, what, log=None):
    """Poll with TCP connects until port accepts, failing early if proc exits."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with status {proc.returncode} before listening"
                        f"{_log_tail(log)}")
        if port_accepts(port):
            return
        time.sleep(0.05)
    pytest.fail(f"{what} did not accept connections on port {port} within "
                f"{scaled(timeout):g}s{_log_tail(log)}")


def _log_tail(path, lines=30):
    if not path:
        return ""
    try:
        text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return ("\n--- " + str(path) + " ---\n" + "\n".join(text)) if text else ""


# ---------------------------------------------------------------------------------------------
# herd itself


@pytest.fixture(scope="session")
def herd_bin():
    """Path of the herd binary under test."""
    if not os.access(HERD, os.X_OK):
        pytest.fail(f"herd binary not found at {HERD} (build it with `make`, or set HERD)")
    return HERD


def _sanitizer_check(what, stderr):
    if any(m in stderr for m in SANITIZER_MARKS):
        pytest.fail(f"{what}: sanitizer report\n{stderr[-6000:]}")


class Server:
    """A listening server process: .port, .proc, .url(path, scheme='ws')."""

    def __init__(self, name, proc, port, log=None):
        self.name, self.proc, self.port, self.log = name, proc, port, log

    def url(self, path="/", scheme="ws"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@pytest.fixture
def herd_serve(herd_bin, procs, tmp_path):
    """Factory: herd_serve(*args) starts `herd serve --port P --threads 1 *args` on a free port
    and returns a Server once the port accepts connections. At teardown a server that had
    already died with a non-zero status (a crash, a sanitizer report) fails the test."""
    started = []

    def start(*args, port=None):
        port = port or free_port()
        log = tmp_path / f"serve-{port}.log"
        with open(log, "wb") as out:
            proc = procs.spawn([herd_bin, "serve", "--port", port, "--threads", "1", *args],
                               stdout=out, stderr=subprocess.STDOUT)
        wait_for_port(port, proc, 10, f"herd serve {' '.join(map(str, args))}", log)
        srv = Server("herd serve", proc, port, log)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        status = srv.proc.poll()
        if status is not None and status != 0:
            pytest.fail(f"herd serve died during the test with status {status}{_log_tail(srv.log)}")
        if status is None:
            _end_process(srv.proc)
        text = Path(srv.log).read_text(errors="replace") if srv.log.exists() else ""
        _sanitizer_check("herd serve", text)


class HerdResult(tuple):
    """(code, report, stderr) of one `herd run`; also .json_path, .dir, .stdout, .elapsed."""

    def __new__(cls, code, report, stderr, **extra):
        self = super().__new__(cls, (code, report, stderr))
        self.__dict__.update(extra)
        return self

    code = property(lambda self: self[0])
    report = property(lambda self: self[1])
    stderr = property(lambda self: self[2])


def load_report(path):
    """The parsed JSON report at path, or None when there is none."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


@pytest.fixture
def run_herd(herd_bin, procs, tmp_path):
    """Helper: run_herd(*args, timeout=30, json=True, quiet=True, json_path=None) runs
    `herd run [--json DIR/r.json] [-q] *args` (put the URL last in args) in a fresh directory
    DIR (the report goes to json_path instead when given) and returns (exit code, parsed JSON report or None, stderr). The process is killed and the
    test fails if it outlives the (scaled) timeout; a sanitizer report fails the test."""
    counter = [0]

    def run(*args, timeout=30, json=True, quiet=True, env=None, json_path=None):
        counter[0] += 1
        rundir = tmp_path / f"run{counter[0]}"
        rundir.mkdir()
        json_path = Path(json_path) if json_path else rundir / "r.json"
        argv = [herd_bin, "run"]
        if json:
            argv += ["--json", str(json_path)]
        if quiet:
            argv += ["-q"]
        argv += [str(a) for a in args]
        t0 = time.monotonic()
        proc = procs.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(CHILD_ENV, **(env or {})), cwd=rundir)
        try:
            out, err = proc.communicate(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            _end_process(proc, grace=2)
            out, err = proc.communicate()
            pytest.fail(f"`{' '.join(argv)}` did not finish within {scaled(timeout):g}s\n"
                        f"stderr: {err.decode(errors='replace')[-3000:]}")
        elapsed = time.monotonic() - t0
        err = err.decode(errors="replace")
        _sanitizer_check(" ".join(argv), err)
        if proc.returncode == SANITIZER_EXIT:
            pytest.fail(f"`{' '.join(argv)}` exited with the sanitizer status\n{err[-6000:]}")
        report = load_report(json_path) if json else None
        return HerdResult(proc.returncode, report, err, json_path=json_path, dir=rundir,
                          stdout=out.decode(errors="replace"), elapsed=elapsed, argv=argv)

    return run


@pytest.fixture
def herd_run_proc(herd_bin, procs, tmp_path):
    """Factory for runs the test steers itself (signals): herd_run_proc(*args) starts
    `herd run --json DIR/r.json -q *args` and returns (Popen, json path). stdout and stderr go
    to files in DIR (DIR/stdout, DIR/stderr)."""
    counter = [0]

    def start(*args):
        counter[0] += 1
        rundir = tmp_path / f"proc{counter[0]}"
        rundir.mkdir()
        json_path = rundir / "r.json"
        logdir = tmp_path / f"proc{counter[0]}-logs"
        logdir.mkdir()
        with open(logdir / "stdout", "wb") as out, open(logdir / "stderr", "wb") as err:
            proc = procs.spawn([herd_bin, "run", "--json", json_path, "-q", *args],
                               stdout=out, stderr=err, cwd=rundir)
        proc.logdir = logdir
        return proc, json_path

    return start


# ---------------------------------------------------------------------------------------------
# independent peers (tests/peers): servers nobody here wrote


def _missing(reason):
    if os.environ.get("HERD_REQUIRE_PEERS") == "1":
        pytest.fail(f"peer unavailable: {reason} (HERD_REQUIRE_PEERS=1)")
    pytest.skip(reason)


def _need_node():
    if not shutil.which("node"):
        _missing("node is not installed (scripts/setup-deps.sh installs it)")
    if not (PEERS / "node_modules" / "ws").is_dir():
        _missing("npm package ws is not installed in tests/peers (run scripts/setup-deps.sh)")
    return ["node"]


def _need_node_pkg(pkg):
    def check():
        interp = _need_node()
        if not (PEERS / "node_modules" / pkg).is_dir():
            _missing(f"npm package {pkg} is not installed in tests/peers (run scripts/setup-deps.sh)")
        return interp
    return check


def _need_python_websockets():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        _missing(f"{SYSTEM_PYTHON} is missing")
    ok = subprocess.run([SYSTEM_PYTHON, "-c", "import websockets"], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    if not ok:
        _missing("Debian's python3-websockets is not installed")
    return [SYSTEM_PYTHON]


def _need_websocketd():
    if not shutil.which("websocketd"):
        _missing("websocketd is not installed (scripts/setup-deps.sh installs it)")
    return []


# name -> (check returning the interpreter argv, script, prints a "ready <port>" line)
PEER_KINDS = {
    "node_echo": (_need_node, "ws_echo.js", True),
    "node_pubsub": (_need_node, "ws_pubsub.js", True),
    "python_echo": (_need_python_websockets, "python_echo.py", True),
    "websocketd_echo": (_need_websocketd, "websocketd_echo.sh", False),
    # conversations (flows): real servers of the protocols, each recording its own counts
    "socketio": (_need_node_pkg("socket.io"), "sio_server.js", True),
    "graphql_ws": (_need_node_pkg("graphql-ws"), "gql_server.js", True),
    "jsonrpc": (_need_node_pkg("json-rpc-2.0"), "jsonrpc_server.js", True),
}


def _wait_ready_line(proc, timeout, what, log):
    """Read proc's stdout until a "ready <port>" line; return the port."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + scaled(timeout)
    buf = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{what} printed no ready line within {scaled(timeout):g}s"
                            f"{_log_tail(log)}")
            if not sel.select(timeout=min(left, 0.2)):
                if proc.poll() is not None:
                    pytest.fail(f"{what} exited with status {proc.returncode}{_log_tail(log)}")
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                proc.wait(timeout=scaled(2))
                pytest.fail(f"{what} closed stdout (status {proc.returncode}){_log_tail(log)}")
            buf += chunk
            for line in buf.split(b"\n")[:-1]:
                parts = line.decode(errors="replace").split()
                if len(parts) == 2 and parts[0] == "ready" and parts[1].isdigit():
                    return int(parts[1])
    finally:
        sel.close()


@pytest.fixture
def peer(procs, tmp_path):
    """Factory: peer(name) starts an independent peer server from tests/peers and returns a
    Server once it is listening. Names: node_echo, node_pubsub (npm ws), python_echo (Debian's
    python3-websockets), websocketd_echo (websocketd + cat, line-based text), socketio (npm
    socket.io 4), graphql_ws (npm graphql-ws on ws), jsonrpc (npm json-rpc-2.0 on ws); env adds to the
    peer's environment. Skips the test, with the reason, when the peer's program is not
    installed."""

    def start(name, env=None):
        check, script, prints_ready = PEER_KINDS[name]
        interp = check()
        log = tmp_path / f"peer-{name}.log"
        if prints_ready:
            with open(log, "wb") as errlog:
                proc = procs.spawn([*interp, PEERS / script, "0"], stdout=subprocess.PIPE,
                                   stderr=errlog, cwd=PEERS, env=dict(CHILD_ENV, **(env or {})))
            port = _wait_ready_line(proc, 15, f"peer {name}", log)
            # Nothing more is read from stdout; the peers print nothing after "ready".
        else:
            port = free_port()
            with open(log, "wb") as out:
                proc = procs.spawn([*interp, PEERS / script, port], stdout=out,
                                   stderr=subprocess.STDOUT, cwd=PEERS)
            wait_for_port(port, proc, 15, f"peer {name}", log)
        return Server(name, proc, port, log)

    return start


class ManglerServer(Server):
    """tests/peers/mangler.py: .url(path, scheme), .report() (its JSON report, or None before
    the first), .wait_report(pred, timeout, what) (until pred(report) holds)."""

    def __init__(self, proc, port, log, report_path):
        super().__init__("mangler", proc, port, log)
        self.report_path = report_path

    def report(self):
        return load_report(self.report_path)

    def wait_report(self, pred, timeout=10, what="the mangler's report"):
        deadline = time.monotonic() + scaled(timeout)
        rep = None
        while time.monotonic() < deadline:
            rep = self.report()
            if rep is not None and pred(rep):
                return rep
            if self.proc.poll() is not None:
                pytest.fail(f"mangler exited with {self.proc.returncode}{_log_tail(self.log)}")
            time.sleep(0.05)
        pytest.fail(f"{what}: not reached within {scaled(timeout):g}s; last report:\n"
                    f"{json.dumps(rep, indent=1)[-3000:]}{_log_tail(self.log)}")


@pytest.fixture
def mangler(procs, tmp_path):
    """Factory: mangler(*args) starts tests/peers/mangler.py (standard library only, run by
    this interpreter) with --report in tmp_path and *args (--drop-every N, --dup-every N,
    --swap-every N, --kick-after N) and returns a ManglerServer once it prints its port.
    ws://H/pub... publishes, ws://H/sub... and http://H/sub... (SSE) subscribe."""
    counter = [0]

    def start(*args):
        counter[0] += 1
        report_path = tmp_path / f"mangler{counter[0]}.json"
        log = tmp_path / f"mangler{counter[0]}.log"
        with open(log, "wb") as errlog:
            proc = procs.spawn([sys.executable, PEERS / "mangler.py", "0", "--report",
                                report_path, *args], stdout=subprocess.PIPE, stderr=errlog)
        port = _wait_ready_line(proc, 15, "mangler", log)
        return ManglerServer(proc, port, log, report_path)

    return start


# ---------------------------------------------------------------------------------------------
# nginx + nchan: an independent pub/sub broker (never the system nginx service)

NGINX = os.environ.get("HERD_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"

# Every channel keeps its last NCHAN_BUFFER messages for NCHAN_MESSAGE_TIMEOUT, and a new
# subscriber without a message id starts at the oldest of them (nchan_subscriber_first_message
# oldest, set explicitly: its default changed between nchan versions). So a subscriber that
# reconnects, or whose channel was deleted and re-created by the next publish, gets what was
# published while it was away, as long as that fits in the buffer. The SSE location also resumes
# from Last-Event-ID. Tests subscribe before anything is published, so "oldest" replays nothing
# on a first connect.
NCHAN_BUFFER = 200
NCHAN_MESSAGE_TIMEOUT = "5m"

NCHAN_CONF = """\
load_module {module};
{user}
worker_processes 1;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    access_log access.log;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    nchan_max_reserved_memory 64M;
    nchan_message_buffer_length {buffer};
    nchan_message_timeout {timeout};
    server {{
        listen 127.0.0.1:{port};
        # WebSocket clients both publish and subscribe (a publisher also gets its own messages).
        location ~ ^/pubsub/([\\w.-]+)$ {{
            nchan_pubsub websocket;
            nchan_channel_id $1;
            nchan_subscriber_first_message oldest;
        }}
        # EventSource (SSE) subscribers; ids are nchan's message ids, Last-Event-ID resumes.
        location ~ ^/sub/([\\w.-]+)$ {{
            nchan_subscriber eventsource;
            nchan_channel_id $1;
            nchan_subscriber_first_message oldest;
        }}
        # Publisher only: POST publishes the body, DELETE deletes the channel (its subscribers
        # are closed: WebSocket 1001 "410 Gone", SSE ":410: 410 Gone" and EOF), GET is its
        # info. WebSocket publishers here are not subscribers (DELETE leaves them open); nchan
        # answers each of their messages with the channel's info as a text message.
        location ~ ^/pub/([\\w.-]+)$ {{
            nchan_publisher http websocket;
            nchan_channel_id $1;
        }}
    }}
}}
"""


class NchanServer(Server):
    """nginx + nchan on 127.0.0.1:.port. Endpoints: ws://H/pubsub/<topic> (WebSocket publish
    and subscribe), http://H/sub/<topic> (SSE subscribe), http://H/pub/<topic> and
    ws://H/pub/<topic> (publish only; HTTP POST, DELETE). .publish(topic, body), .delete(topic) (closes the channel's subscribers),
    .info(topic) (nchan's channel info text), .restart() (stop by PID, start again on the same
    port: every connection drops and the in-memory channels are gone)."""

    def __init__(self, prefix, procs):
        self.prefix, self.procs = prefix, procs
        super().__init__("nchan", None, free_port(), prefix / "error.log")

    def start(self):
        cmd = [NGINX, "-p", f"{self.prefix}/", "-c", "nginx.conf",
               "-g", "daemon off; pid nginx.pid; error_log error.log notice;"]
        with open(self.prefix / "stderr.log", "ab") as out:
            self.proc = self.procs.spawn(cmd, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.prefix)
        wait_for_port(self.port, self.proc, 15, "nginx (nchan)", self.prefix / "stderr.log")
        return self

    def stop(self):
        """SIGTERM to nginx's process group (master and worker), by PID."""
        status = _end_process(self.proc)
        deadline = time.monotonic() + scaled(5)
        while port_accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        return status

    def restart(self):
        self.stop()
        return self.start()

    def _http(self, method, path, body=None):
        import urllib.request
        req = urllib.request.Request(self.url(path, "http"), data=body, method=method)
        with urllib.request.urlopen(req, timeout=scaled(5)) as resp:
            return resp.status, resp.read().decode(errors="replace")

    def publish(self, topic, body):
        if isinstance(body, str):
            body = body.encode()
        return self._http("POST", f"/pub/{topic}", body)

    def delete(self, topic):
        import urllib.error
        try:
            return self._http("DELETE", f"/pub/{topic}")
        except urllib.error.HTTPError as e:  # 404: no such channel (nothing to close)
            return e.code, ""

    def info(self, topic):
        return self._http("GET", f"/pub/{topic}")


def _need_nchan():
    if not os.access(NGINX, os.X_OK):
        _missing("nginx is not installed (scripts/setup-deps.sh installs it)")
    if not os.path.exists(NCHAN_MODULE):
        _missing(f"{NCHAN_MODULE} is missing (Debian's libnginx-mod-nchan; "
                 "scripts/setup-deps.sh installs it)")


@pytest.fixture
def nchan(procs, tmp_path):
    """nginx with nchan as an independent broker, in its own prefix directory (config, pid,
    logs and temp files under tmp_path/nchan), in the foreground (`daemon off`, a master and
    one worker, the worker as the test's own user), listening on a free loopback port. Returns
    an NchanServer (.port, .url(path, scheme), .publish, .delete, .restart) once the port
    accepts; it is stopped by PID at teardown. Skips the test when nginx or the module is not
    installed (fails it with HERD_REQUIRE_PEERS=1)."""
    _need_nchan()
    prefix = tmp_path / "nchan"
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    srv = NchanServer(prefix, procs)
    user = ""
    if os.geteuid() == 0:  # else nginx ignores `user` (with a warning): workers run as us
        import grp
        import pwd
        user = (f"user {pwd.getpwuid(os.geteuid()).pw_name} "
                f"{grp.getgrgid(os.getegid()).gr_name};")
    (prefix / "nginx.conf").write_text(NCHAN_CONF.format(
        module=NCHAN_MODULE, user=user, port=srv.port, buffer=NCHAN_BUFFER,
        timeout=NCHAN_MESSAGE_TIMEOUT))
    srv.start()
    yield srv
    srv.stop()


# ---------------------------------------------------------------------------------------------
# scripted raw TCP servers for misbehaving-peer tests


class RawServer:
    """A listening socket on 127.0.0.1 whose every connection is handed to handler(conn) in its
    own thread; .port, .url(path), .connections (how many were accepted)."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.failures = []  # tracebacks of handlers that raised (not OSError)
        self.stop = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def url(self, path="/", scheme="ws"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept_loop(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            self.conns.append(conn)
            conn.settimeout(0.2)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(conn, self.stop)
        except OSError:
            pass
        except Exception:  # a broken script fails its test at teardown (raw_server)
            import traceback
            self.failures.append(traceback.format_exc())

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(timeout=5)
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def read_http_head(conn, stop, limit=65536):
    """Read an HTTP request head from conn; returns {lowercase header: value} or None."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if stop.is_set() or len(buf) > limit:
            return None
        try:
            chunk = conn.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            return None
        buf += chunk
    head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    headers[":request-line"] = head[0]
    return headers


def ws_accept_value(key):
    """RFC 6455 4.2.2: base64(SHA-1(key + GUID))."""
    import base64
    import hashlib
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    return base64.b64encode(hashlib.sha1(key.encode() + guid).digest()).decode()


def ws_accept_head(head):
    """The 101 answer to an upgrade request whose headers read_http_head returned."""
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            f"{ws_accept_value(head.get('sec-websocket-key', ''))}\r\n\r\n").encode()


def ws_frame(op, payload, fin=True):
    """An unmasked (server) WebSocket frame."""
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        head = bytes([b0, n])
    elif n < 65536:
        head = bytes([b0, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, 127]) + n.to_bytes(8, "big")
    return head + payload


def herd_stamp(pub, seq, time_ns=None):
    """herd's stamp (DESIGN.md "The stamp"): herd1:<publisher>:<seq>:<unix_time_ns>."""
    return f"herd1:{pub}:{seq}:{time.time_ns() if time_ns is None else time_ns}".encode()


def drain_until_closed(conn, stop):
    """Read and discard until the peer closes or the server stops."""
    while not stop.is_set():
        try:
            if not conn.recv(65536):
                return
        except socket.timeout:
            continue


@pytest.fixture
def raw_server():
    """Factory: raw_server(handler) where handler(conn, stop_event) scripts one connection. A
    handler that raises anything but OSError (a failed assert in the script, a bug in it) fails
    the test at teardown: a thread's exception would otherwise be lost."""
    servers = []

    def start(handler):
        srv = RawServer(handler)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.close()
    failures = [f for srv in servers for f in srv.failures]
    if failures:
        pytest.fail("a raw_server handler raised:\n" + "\n".join(failures)[-6000:])


# ---------------------------------------------------------------------------------------------
# report helpers


def usage_error(stderr, option):
    """The one stderr line of a usage error (exit 2), checked to name option, as a word of its
    own (`-c` is not found inside `--connections`). Nothing but the option is checked: what
    the line says about it is wording, not contract; facts a report can carry are asserted on
    the report."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one stderr line, got: {stderr!r}"
    assert re.search(rf"(?<![\w-]){re.escape(str(option))}(?![\w-])", lines[0]), \
        f"{option} is not named in {lines[0]!r}"
    return lines[0]



def finish_run(proc, json_path, timeout=30):
    """Wait for a herd_run_proc run; its exit code, report and stderr. The test fails on a hang
    (the process is ended), a sanitizer report, or a missing report."""
    try:
        proc.wait(timeout=scaled(timeout))
    except Exception:
        _end_process(proc, grace=2)
        pytest.fail(f"herd did not finish within {scaled(timeout):g}s\n"
                    f"{(proc.logdir / 'stderr').read_text()[-3000:]}")
    err = (proc.logdir / "stderr").read_text(errors="replace")
    _sanitizer_check("herd run", err)
    assert json_path.exists(), f"no report (exit {proc.returncode})\n{err[-3000:]}"
    return proc.returncode, json.loads(json_path.read_text()), err


def error_total(report):
    """Sum of every errors.<class>, counting the by-code maps (http_status, closed_by_server)."""
    total = 0
    for v in report.get("errors", {}).values():
        if isinstance(v, dict):
            total += sum(v.values())
        else:
            total += v
    return total


def error_count(report, cls):
    """errors.<cls> as a number (summing a by-code map)."""
    v = report.get("errors", {}).get(cls, 0)
    return sum(v.values()) if isinstance(v, dict) else v
