"""mpv's JSON IPC (``--input-ipc-server``): commands with replies, and the event stream, over a unix socket."""
from __future__ import annotations

import json
import queue
import socket
import threading
import time

from livehdr.base.errors import UserError


class MpvIpc:
    def __init__(self, path: str, timeout: float = 15.0, alive=lambda: True):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline or not alive():
                    raise UserError("mpv did not open its IPC socket (is it a working mpv build?)") from None
                time.sleep(0.05)
        self.events: queue.Queue = queue.Queue()
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self._next_id = 1
        self._send_lock = threading.Lock()
        self.closed = False
        self._reader = threading.Thread(target=self._read, name="livehdr-mpv-ipc", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    if "request_id" in msg and "event" not in msg:
                        with self._cond:
                            self._replies[msg["request_id"]] = msg
                            self._cond.notify_all()
                    else:
                        self.events.put(msg)
        except OSError:
            pass
        finally:
            self.closed = True
            with self._cond:
                self._cond.notify_all()
            self.events.put({"event": "ipc-closed"})

    def command(self, *args, timeout: float = 5.0):
        """Run a command; returns its data, raises UserError on an mpv error or a lost connection."""
        with self._cond:
            rid = self._next_id
            self._next_id += 1
        line = json.dumps({"command": list(args), "request_id": rid}) + "\n"
        try:
            with self._send_lock:
                self.sock.sendall(line.encode())
        except OSError:
            raise UserError("mpv went away") from None
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise UserError(f"mpv did not answer {args[0]}")
                self._cond.wait(left)
            reply = self._replies.pop(rid)
        if reply.get("error") != "success":
            raise UserError(f"mpv: {args[0]} {args[1:]!r}: {reply.get('error')}")
        return reply.get("data")

    def get(self, prop: str, default=None):
        try:
            return self.command("get_property", prop)
        except UserError:
            return default

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
