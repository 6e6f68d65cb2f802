"""The concurrent transport's keep-alive connections (``transports.http1``) against scripted servers on 127.0.0.1:
what each kind of answer, silence and breakage comes to, the unhappy ones first."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from websockets_app.messaging.transports import http1

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
REQUEST = b"POST /@connections/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    return head + await reader.readexactly(length)


async def serve(script: Script, tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, str]:
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    server.connections = connections  # type: ignore[attr-defined]
    port = server.sockets[0].getsockname()[1]
    return server, f"{'https' if tls else 'http'}://127.0.0.1:{port}"


def pool_for(url: str, **options: object) -> http1.Pool:
    settings = {"connect_timeout": 2.0, "read_timeout": 2.0, "max_body": 4096, **options}
    return http1.Pool(url, 4, **settings)  # type: ignore[arg-type]


async def post(pool: http1.Pool, data: bytes = REQUEST) -> tuple[http1.Connection, http1.Answer]:
    connection = await pool.borrow()
    try:
        return connection, await connection.request(data)
    finally:
        pool.give_back(connection)


def answering(*answers: bytes, then: Callable[[asyncio.StreamWriter], None] | None = None) -> Script:
    """Read a request, write the next answer, as long as there are answers; then ``then`` (default: wait)."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            await read_request(reader)
            writer.write(answer)
            await writer.drain()
        if then is not None:
            then(writer)
        await reader.read()

    return script


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (SO_LINGER 0), as a crashing server or a middlebox would."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# --- No connection: nothing was sent ------------------------------------------------------------------------------


def test_a_refused_connection_is_not_connected():
    async def run() -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()  # nothing listens there now
        with pytest.raises(http1.NotConnected, match=f"127.0.0.1:{port}"):
            await pool_for(f"http://127.0.0.1:{port}").borrow()

    asyncio.run(run())


def test_a_tls_handshake_that_never_ends_is_not_connected_within_the_connect_timeout():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never answers the ClientHello

    async def run() -> None:
        server, url = await serve(silent)
        pool = pool_for(url.replace("http://", "https://"), connect_timeout=0.3, tls=ssl.create_default_context())
        started = time.monotonic()
        with pytest.raises(http1.NotConnected, match=r"in 0\.3 s"):
            await pool.borrow()
        assert time.monotonic() - started < 1.5
        server.close()

    asyncio.run(run())


def test_a_failed_connection_gives_its_slot_back():
    async def run() -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        pool = http1.Pool(f"http://127.0.0.1:{port}", 1, connect_timeout=1, read_timeout=1, max_body=10)
        for _ in range(3):  # with the slot kept, the second borrow would wait for ever
            with pytest.raises(http1.NotConnected):
                await asyncio.wait_for(pool.borrow(), 2)

    asyncio.run(run())


@pytest.mark.parametrize("endpoint", ["ftp://example.com", "example.com/stage", "https://"])
def test_an_endpoint_that_is_not_http_is_refused(endpoint):
    async def run() -> None:
        with pytest.raises(ValueError, match="Not an http"):
            pool_for(endpoint)

    asyncio.run(run())


# --- TLS ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own authority)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_a_certificate_from_an_unknown_authority_is_not_connected(certificate):
    async def run() -> None:
        server, url = await serve(answering(OK), tls=server_tls(certificate))
        with pytest.raises(http1.NotConnected, match="CERTIFICATE_VERIFY_FAILED"):
            await pool_for(url, tls=ssl.create_default_context()).borrow()
        server.close()

    asyncio.run(run())


def test_posts_over_tls_are_verified_against_aws_ca_bundle(certificate, monkeypatch):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate[0]))
    http1.default_tls_context.cache_clear()

    async def run() -> None:
        server, url = await serve(answering(OK, OK), tls=server_tls(certificate))
        pool = pool_for(url)
        first, answer = await post(pool)
        second, again = await post(pool)
        assert (answer.status, again.status) == (200, 200)
        assert first is second  # kept alive over TLS too
        pool.close()
        server.close()

    try:
        asyncio.run(run())
    finally:
        http1.default_tls_context.cache_clear()


# --- Answers that end the connection -------------------------------------------------------------------------------


def test_an_answer_that_cannot_be_parsed_is_a_lost_connection_after_the_request_went_out():
    async def run() -> None:
        server, url = await serve(answering(b"SMTP ready\r\n\r\n"))
        pool = pool_for(url)
        connection = await pool.borrow()
        with pytest.raises(http1.ConnectionLost, match="could not be parsed") as lost:
            await connection.request(REQUEST)
        assert lost.value.written
        pool.give_back(connection)
        assert pool.idle == []
        server.close()

    asyncio.run(run())


def test_a_connection_closed_after_reading_the_request_is_lost_with_the_request_written():
    async def run() -> None:
        server, url = await serve(answering(then=reset))
        pool = pool_for(url)
        connection = await pool.borrow()
        with pytest.raises(http1.ConnectionLost) as lost:
            await connection.request(REQUEST)
        assert lost.value.written
        server.close()

    asyncio.run(run())


def test_a_connection_reset_with_the_request_still_buffered_here_is_lost_unwritten():
    async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)  # the client's buffers fill up meanwhile
        reset(writer)

    async def run() -> None:
        server, url = await serve(never_reads)
        pool = pool_for(url)
        connection = await pool.borrow()
        # Far more than the kernel's socket buffers hold: most of it is still in the transport when the reset comes.
        huge = b"POST /@connections/a HTTP/1.1\r\nContent-Length: 67108864\r\n\r\n" + b"x" * 64 * 1024 * 1024
        with pytest.raises(http1.ConnectionLost) as lost:
            await connection.request(huge)
        assert not lost.value.written
        server.close()

    asyncio.run(run())


@pytest.mark.parametrize(
    "closing",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["connection-close", "http-1.0"],
)
def test_an_answer_that_is_not_kept_alive_is_read_and_its_connection_not_reused(closing):
    async def run() -> None:
        server, url = await serve(answering(closing))
        pool = pool_for(url)
        _, answer = await post(pool)
        assert answer.status == 200
        assert pool.idle == []
        server.close()

    asyncio.run(run())


def test_an_answer_without_a_length_ends_with_the_connection():
    async def run() -> None:
        server, url = await serve(
            answering(b'HTTP/1.1 500 Error\r\nx-amzn-ErrorType: Boom\r\n\r\n{"message":"m"}', then=lambda w: w.close())
        )
        _, answer = await post(pool_for(url))
        assert (answer.status, answer.error_type, answer.body) == (500, "Boom", b'{"message":"m"}')
        server.close()

    asyncio.run(run())


def test_headers_that_came_before_the_connection_broke_are_the_answer():
    async def run() -> None:
        server, url = await serve(answering(b"HTTP/1.1 410 Gone\r\nContent-Length: 100\r\n\r\n{", then=reset))
        _, answer = await post(pool_for(url))
        assert answer.status == 410
        server.close()

    asyncio.run(run())


def test_a_long_error_body_is_cut_at_the_bound_and_its_connection_closed():
    body = b"x" * 1_000_000

    async def run() -> None:
        server, url = await serve(answering(b"HTTP/1.1 500 Error\r\nContent-Length: 1000000\r\n\r\n" + body))
        pool = pool_for(url, max_body=100)
        _, answer = await post(pool)
        assert (answer.status, answer.body, answer.cut) == (500, b"x" * 100, True)
        assert pool.idle == []
        server.close()

    asyncio.run(run())


def test_bytes_nobody_asked_for_make_the_connection_unusable():
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await asyncio.sleep(0.1)
        writer.write(OK)  # a second answer to one request
        await reader.read()

    async def run() -> None:
        server, url = await serve(chatty)
        pool = pool_for(url)
        connection, _ = await post(pool)
        await asyncio.sleep(0.3)
        assert not connection.usable
        again = await pool.borrow()
        assert again is not connection
        server.close()

    asyncio.run(run())


def test_two_answers_in_one_read_make_the_connection_unusable():
    async def run() -> None:
        server, url = await serve(answering(OK + OK))
        pool = pool_for(url)
        connection, answer = await post(pool)
        assert answer.status == 200
        assert not connection.usable
        server.close()

    asyncio.run(run())


# --- Silence ---------------------------------------------------------------------------------------------------------


def test_no_answer_within_the_read_timeout_is_a_timeout():
    async def run() -> None:
        server, url = await serve(answering())
        pool = pool_for(url, read_timeout=0.3)
        connection = await pool.borrow()
        started = time.monotonic()
        with pytest.raises(http1.ReadTimeout):
            await connection.request(REQUEST)
        assert 0.25 < time.monotonic() - started < 1.5
        pool.give_back(connection)
        assert pool.idle == []  # its answer might still come: never read as the next one's
        server.close()

    asyncio.run(run())


def test_an_answer_that_keeps_arriving_is_not_timed_out():
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for byte in OK:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.02)  # the whole answer takes ~0.8 s, longer than the read timeout
        await reader.read()

    async def run() -> None:
        server, url = await serve(trickle)
        _, answer = await post(pool_for(url, read_timeout=0.3))
        assert answer.status == 200
        server.close()

    asyncio.run(run())


# --- Keep-alive and the pool -----------------------------------------------------------------------------------------


def test_connections_are_kept_alive_and_answers_read_in_every_framing():
    chunked = (
        b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\nx-amzn-ErrorType: A:b\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )

    async def run() -> None:
        server, url = await serve(answering(OK, chunked, b"HTTP/1.1 410 Gone\r\nContent-Length: 2\r\n\r\n{}"))
        pool = pool_for(url)
        answers = []
        for _ in range(3):
            connection, answer = await post(pool)
            answers.append((connection, answer.status, answer.error_type, answer.body))
        assert [answer[1:] for answer in answers] == [(200, "", b""), (403, "A", b"abc"), (410, "", b"{}")]
        assert len({id(answer[0]) for answer in answers}) == 1
        assert server.connections == [1]  # type: ignore[attr-defined]
        server.close()

    asyncio.run(run())


def test_a_connection_idle_past_the_keep_alive_is_replaced(monkeypatch):
    monkeypatch.setattr(http1, "KEEPALIVE_SECONDS", 0.1)

    async def run() -> None:
        server, url = await serve(answering(OK))
        pool = pool_for(url)
        first, _ = await post(pool)
        await asyncio.sleep(0.2)
        second = await pool.borrow()
        assert second is not first
        assert first.closed or first.transport.is_closing()
        server.close()

    asyncio.run(run())


def test_a_connection_the_server_closed_while_idle_is_not_lent_again():
    async def run() -> None:
        server, url = await serve(answering(OK, then=lambda writer: writer.close()))
        pool = pool_for(url)
        first, _ = await post(pool)
        await asyncio.sleep(0.1)
        assert first.closed
        assert await pool.borrow() is not first
        server.close()

    asyncio.run(run())


def test_no_more_than_the_limit_are_lent_at_once():
    async def run() -> None:
        server, url = await serve(answering(OK))
        pool = http1.Pool(url, 2, connect_timeout=1, read_timeout=1, max_body=10)
        first, second = await pool.borrow(), await pool.borrow()
        third = asyncio.ensure_future(pool.borrow())
        await asyncio.sleep(0.1)
        assert not third.done()
        pool.give_back(first)
        assert await asyncio.wait_for(third, 1) is first
        pool.give_back(second)
        server.close()

    asyncio.run(run())


def test_names_are_looked_up_once_for_many_connections(monkeypatch):
    async def run() -> None:
        server, url = await serve(answering(OK))
        loop = asyncio.get_running_loop()
        lookups = []
        real = loop.getaddrinfo

        async def counted(*args: object, **kwargs: object) -> object:
            lookups.append(args[0])
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(loop, "getaddrinfo", counted)
        pool = pool_for(url.replace("127.0.0.1", "localhost"))
        held = [await pool.borrow() for _ in range(4)]
        assert lookups == ["localhost"]
        for connection in held:
            pool.give_back(connection)
        pool.close()
        server.close()

    asyncio.run(run())


def test_an_address_that_refuses_is_passed_over_for_the_next_one(monkeypatch):
    async def run() -> None:
        server, url = await serve(answering(OK))
        port = int(url.rsplit(":", 1)[1])
        loop = asyncio.get_running_loop()
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        refusing = closed.getsockname()  # bound, never listening: connections to it are refused
        stream = (socket.AF_INET, socket.SOCK_STREAM, 6, "")

        async def two_addresses(*args: object, **kwargs: object) -> list[tuple]:
            return [(*stream, refusing), (*stream, ("127.0.0.1", port))]

        monkeypatch.setattr(loop, "getaddrinfo", two_addresses)
        pool = http1.Pool(f"http://api.test:{port}", 4, connect_timeout=2, read_timeout=2, max_body=10)
        for _ in range(4):  # whichever address each connection starts with, each gets one
            await pool.borrow()
        assert len(server.connections) == 4  # type: ignore[attr-defined]
        closed.close()
        pool.close()
        server.close()

    asyncio.run(run())


def test_ipv4_addresses_are_tried_before_ipv6_ones(monkeypatch):
    async def run() -> None:
        loop = asyncio.get_running_loop()
        v6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 443, 0, 0))
        v4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 443))

        async def both(*args: object, **kwargs: object) -> list[tuple]:
            return [v6, v4, v6]

        monkeypatch.setattr(loop, "getaddrinfo", both)
        pool = pool_for("https://api.test")
        assert await pool._resolve() == [("192.0.2.1", 443), ("2001:db8::1", 443), ("2001:db8::1", 443)]

    asyncio.run(run())


def test_a_name_that_cannot_be_looked_up_is_not_connected(monkeypatch):
    async def run() -> None:
        loop = asyncio.get_running_loop()

        async def unknown(*args: object, **kwargs: object) -> list[tuple]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(loop, "getaddrinfo", unknown)
        with pytest.raises(http1.NotConnected, match="Name or service not known"):
            await pool_for("https://api.test").borrow()

    asyncio.run(run())


def test_headers_that_never_end_are_not_held():
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while not writer.is_closing():
            writer.write(b"X-Padding: " + b"x" * 1000 + b"\r\n")
            await writer.drain()

    async def run() -> None:
        server, url = await serve(endless)
        pool = pool_for(url)
        connection = await pool.borrow()
        with pytest.raises(http1.ConnectionLost, match="headers are too long") as lost:
            await asyncio.wait_for(connection.request(REQUEST), 5)  # without the bound: read for ever
        assert lost.value.written
        assert connection.head_bytes <= http1.MAX_HEAD_BYTES + 256 * 1024  # at most one read past the bound
        server.close()

    asyncio.run(run())
