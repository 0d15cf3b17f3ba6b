#!/usr/bin/env python3
"""The floor of NATS round trips on this machine, with no client library at all.

Blocking sockets, one thread: PING/PONG on one connection, then request/reply where the responder is
(a) the same connection and (b) a second connection, both answered inline by this script. It shows what
the server and the loopback cost, to judge NATSBench's request/PING ratio against.

    python3 scripts/nats-rtt-floor.py nats://127.0.0.1:4222 [round-trips]
"""
import socket
import sys
import time


def connect(host, port):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\nPING\r\n')
    assert f.readline().startswith(b"PONG")
    return s, f


def read_msg(f):
    line = f.readline()
    while line.startswith(b"PING"):
        line = f.readline()
    assert line.startswith(b"MSG"), line
    parts = line.split()
    size = int(parts[-1])
    payload = f.read(size + 2)[:-2]
    return parts, payload


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    host, port = url.split("//")[1].split(":")
    port = int(port)
    a, fa = connect(host, port)
    b, fb = connect(host, port)
    a.sendall(b"SUB req.same 1\r\nSUB _INBOX.a.* 2\r\nPING\r\n")
    assert fa.readline().startswith(b"PONG")
    b.sendall(b"SUB req.other 1\r\nPING\r\n")
    assert fb.readline().startswith(b"PONG")
    payload = b"r" * 128
    pub_same = b"PUB req.same _INBOX.a.1 128\r\n" + payload + b"\r\n"
    pub_other = b"PUB req.other _INBOX.a.1 128\r\n" + payload + b"\r\n"

    def ping():
        a.sendall(b"PING\r\n")
        assert fa.readline().startswith(b"PONG")

    def request_same():
        a.sendall(pub_same)
        parts, body = read_msg(fa)  # the request, on the same connection
        a.sendall(b"PUB " + parts[3] + b" 128\r\n" + body + b"\r\n")
        read_msg(fa)  # the reply

    def request_other():
        a.sendall(pub_other)
        parts, body = read_msg(fb)
        b.sendall(b"PUB " + parts[3] + b" 128\r\n" + body + b"\r\n")
        read_msg(fa)

    results = {}
    for name, fn in [("ping", ping), ("request_same_conn", request_same), ("request_other_conn", request_other)]:
        for _ in range(1000):
            fn()
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        samples.sort()
        results[name] = samples[len(samples) // 2] * 1e6
        print(f"{name:20s} p50 {results[name]:7.1f} us  p99 {samples[len(samples) * 99 // 100] * 1e6:7.1f} us")
    for name in ("request_same_conn", "request_other_conn"):
        print(f"{name} / ping = {results[name] / results['ping']:.2f}")


main()
