"""Helpers for the tests that start Ray: each runs inside a network namespace of its own, where loopback is
the only address (Ray turns 127.0.0.1 into the machine's other address otherwise), with one auth token
shared by every node and driver (Ray 2.5x requires it)."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import struct

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def netns_available() -> bool:
    import subprocess

    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def in_netns(argv: list[str], setup: str = "") -> list[str]:
    """``argv`` run in a new network namespace with ``lo`` up (and ``setup``, more ``ip`` commands)."""
    script = "set -e; ip link set lo up; " + (setup + "; " if setup else "") + 'exec "$@"'
    return ["unshare", "-n", "bash", "-c", script, "netns", *argv]


def ray_env(mark: str, **extra) -> dict[str, str]:
    """The environment of every node and driver of one test: the token, and ``mark`` to find its processes."""
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           "LIVEHDR_TEST_MARK": mark, "PYTHONPATH": REPO, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    env.update(extra)
    return env


def processes(mark: str, **env_values) -> list[tuple[int, str]]:
    """(pid, title) of the processes whose environment holds LIVEHDR_TEST_MARK=mark and every KEY=VALUE."""
    wanted = [f"LIVEHDR_TEST_MARK={mark}".encode()] + [f"{k}={v}".encode() for k, v in env_values.items()]
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            if not all(w in env for w in wanted):
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        found.append((int(pid), title))
    return found


def busy_workers(mark: str, tasks=("video_task", "segment_task", "image_task"), **env_values) -> list[int]:
    """Ray titles a worker 'ray::TASK' while it runs TASK."""
    return [pid for pid, title in processes(mark, **env_values) if any(title.startswith(f"ray::{t}") for t in tasks)]


def kill_all(mark: str, **env_values) -> int:
    killed = 0
    for pid, _ in processes(mark, **env_values):
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def listening_tcp(pid: int) -> list[str]:
    """Addresses of the listening TCP sockets in ``pid``'s network namespace ("127.0.0.1", "::", ...)."""
    found = []
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = open(f"/proc/{pid}/net/{name}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            if family == socket.AF_INET:
                found.append(socket.inet_ntop(family, struct.pack("<I", int.from_bytes(raw, "big"))))
            else:
                words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]  # four host-order 32-bit words
                found.append(socket.inet_ntop(family, b"".join(words)))
    return found
