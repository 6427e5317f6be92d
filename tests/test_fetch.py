"""adstage.fetch.read_image_bytes: local confinement, byte caps and an allow-listed http client.

The http cases run against a real ``http.server`` bound to 127.0.0.1 in a thread; nothing
leaves the loopback interface (refused redirects are refused before any connection).
"""
from __future__ import annotations

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest

from adstage.fetch import read_image_bytes
from adstage.reasons import Reason, Rejected

PAYLOAD = b"\x89PNG\r\n\x1a\n" + b"not really pixels" * 10
MAX_BYTES = 1000


def reason_of(uri: str, **kw) -> Reason:
    with pytest.raises(Rejected) as exc_info:
        fetch(uri, **kw)
    assert exc_info.value.detail
    return exc_info.value.reason


# ---- local files ---------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """tmp/root/{img.png, sub/deep.png, empty.png, big.png, dir/} and tmp/secret.txt beside it."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "dir").mkdir()
    (root / "img.png").write_bytes(PAYLOAD)
    (root / "sub" / "deep.png").write_bytes(PAYLOAD)
    (root / "with space #1.png").write_bytes(PAYLOAD)
    (root / "empty.png").write_bytes(b"")
    (root / "big.png").write_bytes(b"x" * (MAX_BYTES + 1))
    (root / "exact.png").write_bytes(b"x" * MAX_BYTES)
    (tmp_path / "secret.txt").write_bytes(b"top secret")
    (tmp_path / "root2").mkdir()
    (tmp_path / "root2" / "img.png").write_bytes(PAYLOAD)
    return {"tmp": tmp_path, "root": root}


def fetch(uri: str, *, roots=(), hosts=(), timeout_s: float = 2.0,
          max_bytes: int = MAX_BYTES) -> bytes:
    return read_image_bytes(uri, allowed_roots=roots, http_allowed_hosts=hosts,
                            timeout_s=timeout_s, max_bytes=max_bytes)


def test_absolute_path_under_root(tree):
    root = tree["root"]
    assert fetch(str(root / "img.png"), roots=[str(root)]) == PAYLOAD
    assert fetch(str(root / "sub" / "deep.png"), roots=[str(root)]) == PAYLOAD


def test_file_uris(tree):
    root = tree["root"]
    assert fetch((root / "img.png").as_uri(), roots=[str(root)]) == PAYLOAD
    assert fetch(f"file://localhost{root}/img.png", roots=[str(root)]) == PAYLOAD
    assert fetch(f"file:{root}/img.png", roots=[str(root)]) == PAYLOAD
    # Percent-encoding is decoded; '#' must be encoded in a URI, and is.
    assert fetch(f"file://{quote(str(root / 'with space #1.png'))}", roots=[str(root)]) == PAYLOAD


def test_file_uri_with_a_remote_host_is_refused(tree):
    assert reason_of(f"file://fileserver{tree['root']}/img.png",
                     roots=[str(tree["root"])]) is Reason.OUTSIDE_ALLOWED_ROOT


def test_root_with_trailing_slash_and_dotted_segments(tree):
    root = tree["root"]
    assert fetch(f"{root}/sub/../img.png", roots=[f"{root}/"]) == PAYLOAD


@pytest.mark.parametrize("make_uri", [
    lambda t: f"{t['root']}/../secret.txt",
    lambda t: f"{t['root']}/sub/../../secret.txt",
    lambda t: f"file://{t['root']}/../secret.txt",
    lambda t: f"file://{t['root']}/%2e%2e/secret.txt",
    lambda t: f"{t['tmp']}/root2/img.png",     # a sibling sharing the root's name prefix
    lambda t: "/etc/passwd",
], ids=["dotdot", "deep-dotdot", "file-dotdot", "file-encoded-dotdot", "prefix-sibling", "etc"])
def test_path_traversal_is_refused(tree, make_uri):
    assert reason_of(make_uri(tree), roots=[str(tree["root"])]) is Reason.OUTSIDE_ALLOWED_ROOT


def test_symlink_pointing_outside_the_root_is_refused(tree):
    root = tree["root"]
    (root / "escape.png").symlink_to(tree["tmp"] / "secret.txt")
    (root / "escape_dir").symlink_to(tree["tmp"], target_is_directory=True)
    assert reason_of(str(root / "escape.png"), roots=[str(root)]) is Reason.OUTSIDE_ALLOWED_ROOT
    assert reason_of(str(root / "escape_dir" / "secret.txt"),
                     roots=[str(root)]) is Reason.OUTSIDE_ALLOWED_ROOT


def test_symlink_inside_the_root_and_symlinked_root_are_fine(tree):
    root = tree["root"]
    (root / "alias.png").symlink_to(root / "sub" / "deep.png")
    assert fetch(str(root / "alias.png"), roots=[str(root)]) == PAYLOAD
    link_root = tree["tmp"] / "link_root"
    link_root.symlink_to(root, target_is_directory=True)
    assert fetch(str(link_root / "img.png"), roots=[str(link_root)]) == PAYLOAD


def test_relative_paths_and_missing_roots_are_refused(tree, monkeypatch):
    monkeypatch.chdir(tree["root"])
    for uri in ("img.png", "./img.png", "sub/deep.png", "~/img.png"):
        assert reason_of(uri, roots=[str(tree["root"])]) is Reason.OUTSIDE_ALLOWED_ROOT
    assert reason_of(str(tree["root"] / "img.png"), roots=[]) is Reason.OUTSIDE_ALLOWED_ROOT
    # An empty root string must not silently mean "the current directory".
    assert reason_of(str(tree["root"] / "img.png"), roots=[""]) is Reason.OUTSIDE_ALLOWED_ROOT


def test_nul_byte_is_refused_not_crashing(tree):
    root = tree["root"]
    uri = f"file://{root}/img.png%00.jpg"
    assert reason_of(uri, roots=[str(root)]) is Reason.OUTSIDE_ALLOWED_ROOT


@pytest.mark.parametrize("name, reason", [
    ("missing.png", Reason.NOT_FOUND),
    ("img.png/child.png", Reason.NOT_FOUND),     # a file used as a directory
    ("dir", Reason.FETCH_ERROR),
    ("empty.png", Reason.EMPTY_FILE),
    ("big.png", Reason.TOO_MANY_BYTES),
])
def test_local_failures(tree, name, reason):
    assert reason_of(str(tree["root"] / name), roots=[str(tree["root"])]) is reason


def test_exactly_max_bytes_is_allowed(tree):
    assert len(fetch(str(tree["root"] / "exact.png"), roots=[str(tree["root"])])) == MAX_BYTES


def test_fifo_is_refused_without_blocking(tree):
    fifo = tree["root"] / "pipe.png"
    os.mkfifo(fifo)
    start = time.monotonic()
    assert reason_of(str(fifo), roots=[str(tree["root"])]) is Reason.FETCH_ERROR
    assert time.monotonic() - start < 1


def test_unreadable_file_is_a_fetch_error(tree, monkeypatch):
    path = tree["root"] / "locked.png"
    path.write_bytes(PAYLOAD)
    path.chmod(0)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # root ignores file modes: simulate the EACCES a normal user gets.
        real_open = os.open

        def deny(target, *args, **kw):
            if str(target) == str(path):
                raise PermissionError(13, "Permission denied", str(target))
            return real_open(target, *args, **kw)
        monkeypatch.setattr(os, "open", deny)
    assert reason_of(str(path), roots=[str(tree["root"])]) is Reason.FETCH_ERROR


@pytest.mark.parametrize("uri", [
    "ftp://127.0.0.1/img.png", "s3://bucket/img.png", "data:image/png;base64,iVBORw0KGgo=",
    "gs://bucket/img.png", "C:/images/img.png", "javascript:alert(1)",
])
def test_unsupported_schemes(uri):
    assert reason_of(uri, roots=["/"], hosts=["127.0.0.1"]) is Reason.UNSUPPORTED_SCHEME


@pytest.mark.parametrize("uri", ["", "   "])
def test_blank_uri(uri):
    assert reason_of(uri) is Reason.UNSUPPORTED_SCHEME


# ---- http ----------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    stop = threading.Event()  # set at teardown so sleeping handlers exit at once

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              length: int | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        port = self.server.server_address[1]
        routes = {
            "/ok": lambda: self._send(200, PAYLOAD, length=len(PAYLOAD)),
            "/empty": lambda: self._send(200, b"", length=0),
            "/missing": lambda: self._send(404, b"nope", length=4),
            "/gone": lambda: self._send(410, b"", length=0),
            "/error": lambda: self._send(500, b"boom", length=4),
            "/big": lambda: self._send(200, b"x" * (MAX_BYTES + 1), length=MAX_BYTES + 1),
            "/big-unsized": self._big_unsized,
            "/short": lambda: self._send(200, PAYLOAD[:10], length=len(PAYLOAD)),
            "/slow": self._slow,
            "/drip": self._drip,
            "/redirect-out": lambda: self._send(
                302, headers={"Location": f"http://127.0.0.2:{port}/ok"}, length=0),
            "/redirect-in": lambda: self._send(
                301, headers={"Location": "/ok"}, length=0),
            "/redirect-file": lambda: self._send(
                302, headers={"Location": "file:///etc/passwd"}, length=0),
            "/redirect-loop": lambda: self._send(
                302, headers={"Location": "/redirect-loop"}, length=0),
        }
        try:
            routes.get(self.path, lambda: self._send(404, b"", length=0))()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeouts, byte caps): expected

    def _big_unsized(self) -> None:
        # No Content-Length: the cap must hold while streaming.
        self.close_connection = True
        self.send_response(200)
        self.end_headers()
        for _ in range(50):
            self.wfile.write(b"x" * 1000)

    def _slow(self) -> None:
        self.stop.wait(3)
        self._send(200, PAYLOAD, length=len(PAYLOAD))

    def _drip(self) -> None:
        # Each byte well within the socket timeout, the whole body far beyond it.
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        for _ in range(100):
            if self.stop.wait(0.05):
                return
            self.wfile.write(b"x")
            self.wfile.flush()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.stop.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    # The fetcher honours *_proxy like any urllib client; tests must talk to loopback directly.
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


LOOPBACK = ["127.0.0.1"]


def test_http_ok(server):
    assert fetch(f"{server}/ok", hosts=LOOPBACK) == PAYLOAD


def test_http_host_match_is_exact_and_case_insensitive(server):
    port = server.rsplit(":", 1)[1]
    assert fetch(f"http://LOCALHOST:{port}/ok", hosts=["localhost"]) == PAYLOAD
    assert fetch(f"http://localhost:{port}/ok", hosts=["LocalHost"]) == PAYLOAD
    assert reason_of(f"http://localhost:{port}/ok", hosts=["local"]) is Reason.HOST_NOT_ALLOWED
    assert reason_of(f"http://localhost:{port}/ok",
                     hosts=["host.localhost"]) is Reason.HOST_NOT_ALLOWED


@pytest.mark.parametrize("hosts", [[], ["example.com"], ["127.0.0.10"]])
def test_http_host_not_allowed(server, hosts):
    assert reason_of(f"{server}/ok", hosts=hosts) is Reason.HOST_NOT_ALLOWED


def test_http_userinfo_is_refused_before_the_host_check(server):
    """user:password@ is how a URL hides its real host ("http://127.0.0.1@127.0.0.2/"), and a
    password has no place in a catalog: refused before any check or lookup, masked."""
    port = server.rsplit(":", 1)[1]
    assert reason_of(f"http://127.0.0.1@127.0.0.2:{port}/ok",
                     hosts=LOOPBACK) is Reason.CREDENTIALS_IN_URL
    with pytest.raises(Rejected) as err:
        fetch(f"http://user:hunter2@127.0.0.1:{port}/ok", hosts=LOOPBACK)
    assert err.value.reason is Reason.CREDENTIALS_IN_URL and "hunter2" not in err.value.detail


@pytest.mark.parametrize("path, reason", [
    ("/missing", Reason.NOT_FOUND),
    ("/gone", Reason.NOT_FOUND),
    ("/error", Reason.FETCH_ERROR),
    ("/empty", Reason.EMPTY_FILE),
    ("/big", Reason.TOO_MANY_BYTES),
    ("/big-unsized", Reason.TOO_MANY_BYTES),
    ("/short", Reason.FETCH_ERROR),            # body shorter than Content-Length
    ("/redirect-out", Reason.HOST_NOT_ALLOWED),
    ("/redirect-file", Reason.UNSUPPORTED_SCHEME),
    ("/redirect-loop", Reason.FETCH_ERROR),
])
def test_http_failures(server, path, reason):
    assert reason_of(f"{server}{path}", hosts=LOOPBACK) is reason


def test_http_redirect_within_allowed_host_is_followed(server):
    assert fetch(f"{server}/redirect-in", hosts=LOOPBACK) == PAYLOAD


def test_http_redirect_detail_names_both_ends(server):
    with pytest.raises(Rejected) as exc_info:
        fetch(f"{server}/redirect-out", hosts=LOOPBACK)
    assert "127.0.0.2" in exc_info.value.detail and "/redirect-out" in exc_info.value.detail


def test_http_slow_response_times_out(server):
    start = time.monotonic()
    assert reason_of(f"{server}/slow", hosts=LOOPBACK, timeout_s=0.3) is Reason.FETCH_TIMEOUT
    assert time.monotonic() - start < 2


def test_http_drip_feed_hits_the_overall_deadline(server):
    start = time.monotonic()
    assert reason_of(f"{server}/drip", hosts=LOOPBACK, timeout_s=0.5) is Reason.FETCH_TIMEOUT
    assert time.monotonic() - start < 2


def test_http_connection_refused_is_a_fetch_error():
    with socket.socket() as sock:  # find a free port, then leave it closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert reason_of(f"http://127.0.0.1:{port}/ok", hosts=LOOPBACK) is Reason.FETCH_ERROR


def test_http_malformed_url_is_a_fetch_error(server):
    assert reason_of("http://127.0.0.1:notaport/ok", hosts=LOOPBACK) is Reason.FETCH_ERROR
    assert reason_of("http:///ok", hosts=LOOPBACK) is Reason.FETCH_ERROR


# ---- resolved addresses: checked once, connected to -----------------------------------------

@pytest.fixture
def dns(monkeypatch):
    """Answers for made-up names, the real resolver for the rest; counts lookups per name.
    A name maps to a list of answers, one per lookup (the last repeats): a rebinding name."""
    from adstage import fetch as fetch_mod

    answers: dict[str, list[str]] = {}
    calls: dict[str, int] = {}
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        calls[host] = calls.get(host, 0) + 1
        if host not in answers:
            return real(host, port, *args, **kwargs)
        seq = answers[host]
        ip = seq[min(calls[host], len(seq)) - 1]
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        addr = (ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port)
        return [(family, socket.SOCK_STREAM, 6, "", addr)]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)      # what urllib would call
    monkeypatch.setattr(fetch_mod, "_resolve", resolve)      # what the fetcher calls
    return answers, calls


@pytest.mark.parametrize("hosts", [["169.254.169.254"], ["[fd00:ec2::254]", "fd00:ec2::254"]])
def test_metadata_addresses_are_refused_even_when_allow_listed(hosts):
    host = hosts[0]
    with pytest.raises(Rejected) as err:
        fetch(f"http://{host}/latest/meta-data/", hosts=hosts)
    assert err.value.reason is Reason.HOST_NOT_ALLOWED and "metadata" in err.value.detail


@pytest.mark.parametrize("ip, kind", [("169.254.169.254", "metadata"), ("169.254.10.1", "link-local"),
                                      ("10.0.0.5", "private"), ("127.0.0.1", "loopback"),
                                      ("::ffff:169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata")])
def test_an_allowed_name_that_resolves_to_an_internal_address_is_refused(dns, ip, kind):
    answers, _ = dns
    answers["cdn.example.test"] = [ip]
    with pytest.raises(Rejected) as err:
        fetch("http://cdn.example.test/x.png", hosts=["cdn.example.test"])
    assert err.value.reason is Reason.HOST_NOT_ALLOWED and kind in err.value.detail


def test_private_networks_are_allowed_only_when_named(dns, server):
    answers, _ = dns
    answers["cdn.internal.test"] = ["127.0.0.1"]
    port = server.rsplit(":", 1)[1]
    url = f"http://cdn.internal.test:{port}/ok"
    assert reason_of(url, hosts=["cdn.internal.test"]) is Reason.HOST_NOT_ALLOWED
    got = read_image_bytes(url, allowed_roots=(), http_allowed_hosts=["cdn.internal.test"],
                           http_allowed_networks=["127.0.0.0/8"], timeout_s=2, max_bytes=MAX_BYTES)
    assert got == PAYLOAD
    # The loopback server of these tests: allowed because the allow-list names it.
    assert fetch(f"{server}/ok", hosts=["127.0.0.1"]) == PAYLOAD
    assert fetch(f"http://localhost:{port}/ok", hosts=["localhost"]) == PAYLOAD


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(dns, server):
    """DNS rebinding: the name answers an allowed address to the check and the metadata
    service to a second lookup. There is no second lookup: the socket connects to the
    address that was checked."""
    answers, calls = dns
    answers["rebind.example.test"] = ["127.0.0.1", "169.254.169.254"]
    port = server.rsplit(":", 1)[1]
    got = read_image_bytes(f"http://rebind.example.test:{port}/ok", allowed_roots=(),
                           http_allowed_hosts=["rebind.example.test"],
                           http_allowed_networks=["127.0.0.0/8"], timeout_s=2,
                           max_bytes=MAX_BYTES)
    assert got == PAYLOAD and calls["rebind.example.test"] == 1


def test_a_signed_urls_secrets_are_masked_in_the_reason(server):
    with pytest.raises(Rejected) as err:
        fetch(f"{server}/missing?X-Amz-Credential=AKIA123&X-Amz-Signature=deadbeef&v=2",
              hosts=LOOPBACK)
    assert err.value.reason is Reason.NOT_FOUND
    assert "deadbeef" not in err.value.detail and "AKIA123" not in err.value.detail
    assert "X-Amz-Signature=***" in err.value.detail and "v=2" in err.value.detail
