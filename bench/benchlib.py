"""benchlib.py - small helpers shared by the Python benchmarks in bench/ (run as
`/usr/bin/python3 bench/X.py`, so this directory is on sys.path)."""
import socket
import sys
import time


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, who="herd serve"):
    """Return once 127.0.0.1:port accepts a connection; exit the script if proc (the server)
    exits or it does not listen within about 10 s."""
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"{who} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{who} does not listen on {port}")


def cpu_ticks(pid):
    """(utime, stime) of the whole process (every thread), in clock ticks (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
