#!/usr/bin/env python3
"""Clients that break the xenstore wire protocol, against a running kxenstored.

Usage: hostile_client.py SOCKET
Each case connects, misbehaves, and checks the answer (an XS_ERROR reply, or a hang-up);
after each, a well-behaved client must still be served. Exit status 0 when all pass.
"""
import socket
import struct
import sys

XS_READ, XS_WRITE, XS_ERROR, XS_WATCH, XS_WATCH_EVENT = 2, 11, 16, 4, 15
PAYLOAD_MAX = 4096


def msg(type_, payload, req_id=1, tx=0):
    return struct.pack("<IIII", type_, req_id, tx, len(payload)) + payload


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s


def recv_msg(s):
    hdr = b""
    while len(hdr) < 16:
        chunk = s.recv(16 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    type_, req_id, tx, length = struct.unpack("<IIII", hdr)
    body = b""
    while len(body) < length:
        chunk = s.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return type_, req_id, body


def expect_error(path, data, name):
    s = connect(path)
    s.sendall(data)
    r = recv_msg(s)
    s.close()
    return r is not None and r[0] == XS_ERROR and r[2] == name.encode() + b"\0"


def healthy(path):
    s = connect(path)
    s.sendall(msg(XS_WRITE, b"/hostile/probe\0ok") + msg(XS_READ, b"/hostile/probe\0", 2))
    a, b = recv_msg(s), recv_msg(s)
    s.close()
    return a is not None and b is not None and b[2] == b"ok"


def oversized(path):
    s = connect(path)
    s.sendall(struct.pack("<IIII", XS_WRITE, 7, 0, PAYLOAD_MAX + 1) + b"x" * 64)
    r = recv_msg(s)
    ok = r is not None and r[0] == XS_ERROR and r[1] == 7 and r[2] == b"E2BIG\0"
    ok = ok and recv_msg(s) is None   # then hung up
    s.close()
    return ok


def flood(path):
    """Thousands of requests without reading a reply, then read them all."""
    s = connect(path)
    n = 20000
    data = b"".join(msg(XS_READ, b"/hostile/probe\0", i) for i in range(n))
    s.sendall(data)
    got = 0
    while got < n:
        r = recv_msg(s)
        if r is None:
            break
        got += 1
    s.close()
    return got == n


def truncated_then_close(path):
    s = connect(path)
    s.sendall(struct.pack("<IIII", XS_WRITE, 1, 0, 100) + b"partial")
    s.close()
    return True


def garbage(path):
    s = connect(path)
    try:
        s.sendall(bytes((i * 37 + 11) & 0xFF for i in range(5000)))
        while recv_msg(s) is not None:
            pass
    except OSError:
        pass
    s.close()
    return True


CASES = [
    ("unknown message type -> ENOSYS", lambda p: expect_error(p, msg(12345, b"x\0"), "ENOSYS")),
    ("read without NUL -> EINVAL", lambda p: expect_error(p, msg(XS_READ, b"/a"), "EINVAL")),
    ("read with two strings -> EINVAL", lambda p: expect_error(p, msg(XS_READ, b"/a\0/b\0"), "EINVAL")),
    ("write without NUL -> EINVAL", lambda p: expect_error(p, msg(XS_WRITE, b"nonul"), "EINVAL")),
    ("bad path characters -> EINVAL", lambda p: expect_error(p, msg(XS_READ, b"/a b\0"), "EINVAL")),
    ("watch with one argument -> EINVAL", lambda p: expect_error(p, msg(XS_WATCH, b"/a\0"), "EINVAL")),
    ("unknown transaction -> ENOENT", lambda p: expect_error(p, msg(XS_READ, b"/\0", 1, 999), "ENOENT")),
    ("payload > XENSTORE_PAYLOAD_MAX -> E2BIG, hang-up", oversized),
    ("20000 pipelined requests", flood),
    ("truncated message then close", truncated_then_close),
    ("5000 bytes of garbage", garbage),
]


def main():
    path = sys.argv[1]
    failed = 0
    for name, case in CASES:
        try:
            ok = case(path) and healthy(path)
        except Exception as e:  # a timeout or refused connection is a failure
            ok = False
            name += f" ({e})"
        print(f"  {'ok  ' if ok else 'FAIL'} hostile: {name}")
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
