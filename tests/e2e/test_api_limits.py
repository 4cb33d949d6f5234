"""The attack run's requests against a real `tillpoint serve --demo` (the process that
also runs the terminal host): 300 MB bodies, declared and streamed, with and without
a key, are refused and the process's memory stays where it was; a rotating
X-Forwarded-For from 127.0.0.1 does not escape the failed-authentication limit, and a
key in use keeps working behind the guesser.

The bodies come from a generator, a chunk at a time: the test never holds one whole."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
from tests.e2e.test_serve import serve_demo, serve_env

BODY_BYTES = 300 * 1024 * 1024
CHUNK = 64 * 1024
RSS_GROWTH_ALLOWED_KB = 50 * 1024
DEADLINE_S = 120.0  # generous: a loaded machine; it returns as soon as the answer comes


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert found is not None
    return int(found.group(1))


def chunks(chunked: bool) -> Iterator[bytes]:
    piece = b"x" * CHUNK
    for _ in range(BODY_BYTES // CHUNK):
        yield b"%x\r\n%s\r\n" % (CHUNK, piece) if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


def post_huge(port: int, key: str | None, *, chunked: bool) -> tuple[int, int]:
    """POST 300 MB to /v1/payments over a raw socket, sending from one thread and
    reading the answer in this one; the answer's status and how many bytes went out
    before the server stopped taking them."""
    head = [
        "POST /v1/payments HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        "Idempotency-Key: huge",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY_BYTES}",
    ]
    if key:
        head.append(f"Authorization: Bearer {key}")
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    sent = 0

    def send() -> None:
        nonlocal sent
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for chunk in chunks(chunked):
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection: what we expect

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        sender.join(DEADLINE_S)
    status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else b"0"
    return int(status), sent


def test_huge_bodies_and_forwarded_addresses_against_a_real_server(tmp_path: Path) -> None:
    proc, _, http = serve_demo(tmp_path)
    env = serve_env(tmp_path)
    try:
        made = subprocess.run(
            [sys.executable, "-m", "tillpoint", "keys", "create", "--role", "ops_admin",
             "--name", "limits"],
            env={**env, "TILLPOINT_DEMO": "1"}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        found = re.search(r"tp_test_\S+", made.stdout + made.stderr)
        assert found is not None, made.stdout
        key = found.group(0)
        base = f"http://127.0.0.1:{http}"
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, timeout=DEADLINE_S) as client:
            for _ in range(3):  # warm up every path the big requests take
                assert client.get("/v1/payments", headers=auth).status_code == 200
                r = client.post("/v1/payments", json={}, headers={**auth, "Idempotency-Key": "w"})
                assert r.status_code == 422
                assert client.post("/v1/payments", json={}).status_code == 401
            before_kb = rss_kb(proc.pid)

            results = [
                post_huge(http, None, chunked=False),
                post_huge(http, key, chunked=False),
                post_huge(http, None, chunked=True),
                post_huge(http, key, chunked=True),
            ]
            assert [status for status, _sent in results] == [413, 413, 401, 413]
            assert all(sent < BODY_BYTES // 2 for _status, sent in results)
            grown_kb = rss_kb(proc.pid) - before_kb
            assert grown_kb < RSS_GROWTH_ALLOWED_KB, f"RSS grew {grown_kb} kB"
            assert client.get("/health").json()["status"] == "ok"

            # From 127.0.0.1, with no proxies configured, X-Forwarded-For is not believed.
            codes = [
                client.get(
                    "/v1/payments",
                    headers={"Authorization": "Bearer tp_test_guess",
                             "X-Forwarded-For": f"203.0.113.{n}"},
                ).status_code
                for n in range(12)
            ]  # fmt: skip
            assert codes[-1] == 429 and codes.count(401) <= 10, codes
            assert client.get("/v1/payments", headers=auth).status_code == 200  # in use
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
