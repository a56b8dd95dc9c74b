"""core.outbound.post against real servers on loopback (allowed by the operator's setting): the
answer's status and the start of its body, a big answer cut at max_bytes, a server that hangs or
drips its answer cut off at twice the timeout, a refused connection reported."""

import socket
import ssl
import subprocess
import threading
import time

import pytest

from core import outbound


@pytest.fixture(autouse=True)
def allow_loopback(settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "OUTBOUND_ALLOW": ["127.0.0.1"]}


def serve(handle):
    """A TCP server on loopback whose one connection is given to handle(conn); its URL."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run():
        conn, _ = listener.accept()
        try:
            conn.recv(65536)
            handle(conn)
        except OSError:
            pass
        finally:
            conn.close()
            listener.close()

    threading.Thread(target=run, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/hook?x=1"


def test_the_answer_and_the_start_of_its_body():
    body = b"x" * 10_000
    url = serve(lambda c: c.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 10000\r\n\r\n" + body))
    answer = outbound.post(url, b"{}", {"Content-Type": "application/json"}, timeout=2, max_bytes=100)
    assert (answer.status, answer.body, answer.truncated) == (201, b"x" * 100, True)


def test_a_server_that_hangs_is_cut_off():
    url = serve(lambda c: time.sleep(5))
    start = time.monotonic()
    with pytest.raises(outbound.OutboundFailed, match="timed out"):
        outbound.post(url, b"{}", {}, timeout=0.3)
    assert time.monotonic() - start < 2


def test_a_server_that_drips_its_answer_is_cut_off_at_twice_the_timeout():
    def drip(conn):
        for _ in range(50):
            conn.sendall(b"X-Slow: 1\r\n" if _ else b"HTTP/1.1 200 OK\r\n")
            time.sleep(0.1)  # each read well within the timeout, the whole far beyond

    url = serve(drip)
    start = time.monotonic()
    with pytest.raises(outbound.OutboundFailed, match="timed out"):
        outbound.post(url, b"{}", {}, timeout=0.4)
    assert time.monotonic() - start < 1.5


def test_a_refused_connection_is_a_failure():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(outbound.OutboundFailed, match="ConnectionRefused"):
        outbound.post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=1)


def test_a_host_that_does_not_resolve_now_is_a_failure_to_retry_not_a_refusal():
    with pytest.raises(outbound.OutboundFailed, match="does not resolve"):
        outbound.post("https://no-such-host.invalid/hook", b"{}", {}, timeout=1)


def test_https_verifies_the_certificate_of_the_host_named(tmp_path):
    """The connection goes to the address checked, but TLS is with the host of the URL: a
    certificate nobody vouches for is refused (the request is not sent)."""
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    received = []

    def tls(conn):
        with context.wrap_socket(conn, server_side=True) as secure:
            received.append(secure.recv(65536))

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def run():
        conn, _ = listener.accept()
        try:
            tls(conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()
            listener.close()

    threading.Thread(target=run, daemon=True).start()
    with pytest.raises(outbound.OutboundFailed, match="CERTIFICATE_VERIFY_FAILED"):
        outbound.post(f"https://127.0.0.1:{port}/hook", b'{"secret": 1}', {}, timeout=2)
    assert received == []
