"""Slow clients, run inside a lab container (python3 - HOST PORT COUNT SECONDS INTERVAL): COUNT connections to
HOST:PORT, each sending a webhook's headers with a 10,000-byte body announced, then one byte of the body every
INTERVAL seconds; a connection the server closes is opened again, until SECONDS have passed. Bounded in count and
time, aimed only at the lab's own hosts. Prints a JSON summary: connections made, refused, cut by the server (closed,
or answered, e.g. 408), and the answers' status lines."""

from __future__ import annotations

import json
import selectors
import socket
import sys
import time

MAX_COUNT, MAX_SECONDS = 500, 300
HEAD = (
    b"POST /api/v1/customer-service/webhook HTTP/1.1\r\nHost: lab\r\nContent-Type: application/json\r\n"
    b"X-CS-Timestamp: 1\r\nX-CS-Signature: 0\r\nContent-Length: 10000\r\n\r\n"
)


def main() -> None:
    host, port, count, seconds, interval = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6])
    # resolved once: 200 lookups at each reconnect flooded the lab's DNS (dnsmasq), and the service's own lookups of
    # the database host waited out the resolver's 5 s timeout; that is the lab's resolver, not what is tested here
    host = socket.gethostbyname(host)
    count, seconds = min(int(count), MAX_COUNT), min(seconds, MAX_SECONDS)
    stats = {"connected": 0, "refused": 0, "cut": 0, "answers": {}, "max_open": 0}
    open_: dict[socket.socket, float] = {}  # socket -> when its next byte is due
    selector = selectors.DefaultSelector()

    def connect() -> None:
        try:
            conn = socket.create_connection((host, port), timeout=2)
            conn.sendall(HEAD)
        except OSError:
            stats["refused"] += 1
            return
        conn.setblocking(False)
        stats["connected"] += 1
        open_[conn] = time.monotonic() + interval
        selector.register(conn, selectors.EVENT_READ)

    def drop(conn: socket.socket, answer: bytes) -> None:
        stats["cut"] += 1
        if answer:
            line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
            stats["answers"][line] = stats["answers"].get(line, 0) + 1
        selector.unregister(conn)
        del open_[conn]
        conn.close()

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        while len(open_) < count and time.monotonic() < end:
            connect()
            if stats["refused"] and len(open_) < count:  # refused: try again on the next round, not in a tight loop
                break
        stats["max_open"] = max(stats["max_open"], len(open_))
        for key, _ in selector.select(timeout=0.2):
            try:
                answer = key.fileobj.recv(4096)
            except OSError:
                answer = b""
            drop(key.fileobj, answer)
        now = time.monotonic()
        for conn, due in list(open_.items()):
            if now >= due:
                try:
                    conn.send(b"{")
                    open_[conn] = now + interval
                except OSError:
                    drop(conn, b"")
        time.sleep(0.05)
    for conn in list(open_):
        conn.close()
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
