"""benchlib.py - small helpers shared by the Python benchmarks in bench/ (run as
`/usr/bin/python3 bench/X.py`, so this directory is on sys.path)."""
import socket


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
