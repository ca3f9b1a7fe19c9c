"""wss://: herd's TLS client against an independent TLS server (Debian's python3-websockets over
Python's ssl module), with certificates made at test time by the openssl command."""
import subprocess

import pytest

from conftest import CHILD_ENV, PEERS, _wait_ready_line, usage_error, wait_for_port


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, a server certificate for localhost and 127.0.0.1 signed by it, and one for another
    name."""
    d = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=herd test CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    for name, san in (("good", "DNS:localhost,IP:127.0.0.1"), ("other", "DNS:other.example")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
                cwd=d)
    return d


@pytest.fixture
def tls_echo(procs, tmp_path, certs):
    def start(name="good", client_ca=None):
        log = tmp_path / f"tls-{name}.log"
        env = {"TLS_CERT": str(certs / f"{name}.pem"), "TLS_KEY": str(certs / f"{name}.key")}
        if client_ca:
            env["TLS_CLIENT_CA"] = str(client_ca)
        with open(log, "wb") as errlog:
            proc = procs.spawn(["/usr/bin/python3", PEERS / "python_echo.py", "0"],
                               stdout=subprocess.PIPE, stderr=errlog, cwd=PEERS,
                               env=dict(CHILD_ENV, **env))
        return _wait_ready_line(proc, 15, "python TLS echo", log)

    return start


def test_wss_echo_verified(tls_echo, certs, run_herd):
    port = tls_echo()
    code, rep, err = run_herd("-c", 8, "-d", "2s", "-t", 2, "--role", "echo", "--cacert",
                              certs / "ca.pem", f"wss://localhost:{port}/", timeout=30)
    assert code == 0, err
    assert rep["report_version"] == 1 and rep["complete"] is True
    c, h = rep["counters"], rep["histograms"]
    assert c["connections.opened"] == 8
    assert h["tls"]["count"] == 8
    assert h["rtt"]["count"] > 100
    assert rep["errors"]["tls"] == 0


def test_wss_ping_by_ip(tls_echo, certs, run_herd):
    port = tls_echo()
    code, rep, err = run_herd("-c", 4, "-d", "2s", "-t", 1, "--cacert", certs / "ca.pem",
                              f"wss://127.0.0.1:{port}/", timeout=30)
    assert code == 0, err
    assert rep["counters"]["pings.received"] > 100
    assert rep["histograms"]["tls"]["count"] == 4


def test_untrusted_certificate_fails_then_insecure_passes(tls_echo, run_herd):
    port = tls_echo()
    url = f"wss://localhost:{port}/"
    code, rep, err = run_herd("-c", 3, "-d", "1s", "-t", 1, "--timeout", "3s", url, timeout=30)
    assert code == 3, err
    assert rep["complete"] is False
    assert rep["errors"]["tls"] == 3
    assert rep["counters"]["tls.errors.verification"] == 3
    assert rep["counters"]["connections.opened"] == 0
    # The same server, unverified: the certificate was the only obstacle.
    code, rep, err = run_herd("-c", 3, "-d", "1s", "-t", 1, "--insecure", url, timeout=30)
    assert code == 0, err
    assert rep["counters"]["connections.opened"] == 3


def test_wrong_name_fails(tls_echo, certs, run_herd):
    port = tls_echo("other")
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--cacert", certs / "ca.pem",
                              f"wss://localhost:{port}/", timeout=30)
    assert code == 3, err
    assert rep["complete"] is False
    assert rep["errors"]["tls"] == 2
    assert rep["counters"]["tls.errors.verification"] == 2
    assert rep["counters"]["connections.opened"] == 0
    # --sni names the host the certificate is for: with the same CA it verifies, so the name
    # was what failed verification.
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--cacert", certs / "ca.pem",
                              "--sni", "other.example", f"wss://localhost:{port}/", timeout=30)
    assert code == 0, err
    assert rep["counters"]["connections.opened"] == 2
    assert rep["errors"]["tls"] == 0


def test_bad_cacert_file_is_usage_error(run_herd, tmp_path):
    """An option naming a file that cannot be loaded is bad usage (DESIGN.md: exit 2, one line
    naming the option), as --message-file and -f are."""
    code, rep, err = run_herd("-c", 1, "-d", "1s", "--cacert", tmp_path / "nope.pem",
                              "wss://127.0.0.1:9/", timeout=30)
    usage_error(err, "--cacert")
    assert rep is None  # refused before the run
    assert code == 2, err


def test_client_certificate_required_is_an_alert(procs, tls_echo, certs, run_herd, free_port):
    """A server that requires a client certificate rejects herd without one with a fatal alert
    (TLS 1.3: certificate_required, read after herd's side of the handshake): `openssl s_server
    -Verify`, which always sends it. With --cert/--key signed by the CA it trusts, connections
    to python3-websockets requiring one open."""
    port = free_port()
    srv = procs.spawn(["openssl", "s_server", "-accept", str(port), "-cert", certs / "good.pem",
                       "-key", certs / "good.key", "-Verify", "1", "-verify_return_error",
                       "-CAfile", certs / "ca.pem", "-www", "-quiet"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, srv, 15, "openssl s_server")
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--cacert", certs / "ca.pem",
                              f"wss://localhost:{port}/", timeout=30)
    assert code == 3, err
    assert rep["complete"] is False
    assert rep["errors"]["tls"] == 2, rep["errors"]
    assert rep["counters"]["tls.errors.alert"] == 2, rep["counters"]
    assert rep["counters"]["connections.opened"] == 0
    port = tls_echo(client_ca=certs / "ca.pem")
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--cacert", certs / "ca.pem",
                              "--cert", certs / "good.pem", "--key", certs / "good.key",
                              f"wss://localhost:{port}/", timeout=30)
    assert code == 0, err
    assert rep["counters"]["connections.opened"] == 2


def test_tls_to_a_plain_server_is_a_protocol_error(herd_serve, run_herd):
    """wss:// to a server that does not speak TLS: the reply is no TLS record."""
    srv = herd_serve()
    code, rep, err = run_herd("-c", 2, "-d", "1s", "-t", 1, "--insecure",
                              srv.url("/echo", "wss"), timeout=30)
    assert code == 3, err
    assert rep["complete"] is False
    assert rep["errors"]["tls"] == 2, rep["errors"]
    assert rep["counters"]["tls.errors.protocol"] == 2
    assert rep["counters"]["connections.opened"] == 0
