"""A private ``redis-server`` for tests and benchmarks: free 127.0.0.1 port, no persistence, tmp data dir.

``scripts/install-redis.sh`` (run by ``make test``) installs Debian's ``redis-server`` when missing;
without it the session tests fail rather than skip, so a green run always exercised a real Redis.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(timeout: float = 10.0) -> Iterator[str]:
    """Start ``redis-server`` and yield its ``redis://`` URL; stop it (and remove its dir) afterwards."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError(
            "redis-server is not installed: run `bash scripts/install-redis.sh` (or `make test`)"
        )
    with tempfile.TemporaryDirectory(prefix="lyre-redis-") as directory:
        port = free_port()
        command = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", directory, "--daemonize", "no", "--logfile", ""]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not _answers_ping(port):
                if process.poll() is not None:
                    output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                    raise RuntimeError(f"redis-server exited with {process.returncode}:\n{output}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer PING on port {port} within {timeout} s")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
