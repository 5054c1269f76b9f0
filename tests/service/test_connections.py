"""What happens before and around the routes, on real servers over raw sockets where a
client would misbehave: the API key on every /v1 path, time budgets for headers, body and
answer, a header size limit, clients that leave, CORS refusals; all answered in JSON."""

from __future__ import annotations

import json
import socket
import time

import httpx

from service.launcher import Server
from tests.service.helpers import SIGNAL, detail, requests_counted

# The default server's guards (tests/service/conftest.py): headers within 2 s, at most
# 8 KiB of them; bodies within 2 s.
HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 2


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=15)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_every_v1_path_needs_the_key_first(strict_server: Server) -> None:
    """Unknown paths answer as known ones do, so they reveal nothing of what exists."""
    for path in ("/v1/models", "/v1/nope", "/v1/signals/pi:unknown", "/v1"):
        answer = httpx.get(f"{strict_server.url}{path}")
        assert "X-API-Key" in detail(answer, 401), path
    keyed = httpx.get(f"{strict_server.url}/v1/nope", headers={"X-API-Key": "s3cret"})
    assert keyed.status_code == 404
    assert httpx.get(f"{strict_server.url}/healthz").status_code == 200  # probes stay open


def test_half_sent_headers_are_answered_408_and_closed(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: never done
        started = time.monotonic()
        answer = read_all(sock)
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 5
    status, body = status_and_body(answer)
    assert status == 408 and "PINET_HEADER_TIMEOUT_S" in body["detail"]


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 5


def test_headers_over_the_limit_are_answered_431(server: Server) -> None:
    answer = httpx.get(f"{server.url}/healthz", headers={"X-Big": "a" * 1_000_000})
    assert "PINET_MAX_HEADER_BYTES" in detail(answer, 431)
    assert httpx.get(f"{server.url}/healthz", headers={"X-Fine": "a" * 4000}).status_code == 200


def test_a_late_body_is_answered_408(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/signals/pi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"signal": [[1'  # ...and then nothing
        )
        answer = read_all(sock)
    status, body = status_and_body(answer)
    assert status == 408 and "PINET_BODY_TIMEOUT_S" in body["detail"]


def test_a_client_leaving_mid_body_is_no_server_error(server: Server) -> None:
    before = requests_counted(server, "POST", "/v1/signals/pi")
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/signals/pi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n" + b" " * 1000
        )
    deadline = time.monotonic() + 10
    while requests_counted(server, "POST", "/v1/signals/pi") == before:
        assert time.monotonic() < deadline, "the request was never counted"
        time.sleep(0.1)
    after = requests_counted(server, "POST", "/v1/signals/pi")
    assert after.get("500", 0) == before.get("500", 0)
    assert after["499"] == before.get("499", 0) + 1
    assert "unhandled" not in server.log.read_text()


def test_a_request_over_its_time_budget_is_answered_503(patient_server: Server) -> None:
    """The patient server waits 3 s for a batch to fill but gives a request 1 s."""
    answer = httpx.post(f"{patient_server.url}/v1/signals/pi", json={"signal": SIGNAL.tolist()})
    assert "PINET_REQUEST_TIMEOUT_S" in detail(answer, 503)
    assert answer.headers["Retry-After"] == "1"
    assert httpx.get(f"{patient_server.url}/readyz").status_code == 200


def test_a_refused_cors_preflight_is_answered_in_json(patient_server: Server) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    refused = httpx.options(
        f"{patient_server.url}/v1/signals/pi",
        headers=preflight | {"Origin": "https://elsewhere.example"},
    )
    assert "PINET_CORS_ORIGINS" in detail(refused, 400)
    allowed = httpx.options(
        f"{patient_server.url}/v1/signals/pi",
        headers=preflight | {"Origin": "https://allowed.example"},
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://allowed.example"


def test_an_early_answer_leaves_the_connection_usable(server: Server) -> None:
    """A body refused before it is read (413 from its Content-Length) is no request header
    of the next request on the same keep-alive connection."""
    with httpx.Client(base_url=server.url) as client:
        too_big = client.post("/v1/signals/pi", files={"file": ("s.npy", bytes(2_100_000))})
        assert too_big.status_code == 413
        assert client.get("/healthz").status_code == 200
