"""frames.py - ava's wire frames by hand, for the Python tests that speak
the protocol themselves (runtime/protocol.h; doc/protocol.md, "Frames").
"""
import struct

MAGIC, VERSION = 0x31415641, 1
HELLO, WELCOME, ERROR, BYE, MOVED = 1, 2, 5, 6, 12
HEADER = struct.Struct("<IHBBIIIIQQ")


def frame(kind, payload=b""):
    """A frame of type kind (api 1, thread 1, seq 0) around payload."""
    return HEADER.pack(MAGIC, VERSION, kind, 1, 0, 1, 0, 0, 0,
                       len(payload)) + payload


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("the server closed the connection")
        buf += chunk
    return buf


def recv_frame(s):
    """The next frame on socket s: its type and its payload."""
    h = HEADER.unpack(recv_exact(s, HEADER.size))
    return h[2], recv_exact(s, h[9]) if h[9] else b""
