"""Free loopback port selection."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a port that is free right now, chosen by the kernel (bind to port 0).

    Another process can still take it before the server binds it; callers retry on
    "Address already in use" rather than trusting this answer.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
