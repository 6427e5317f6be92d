"""Read the bytes of one catalog image, from the local filesystem or over http(s).

Pure functions (no Spark): the ingest job calls :func:`read_image_bytes` once per image URI
and turns a :class:`~adstage.reasons.Rejected` into a rejects-table row.  Every refusal is a
``Rejected``; nothing else escapes for bad input.

Security model:

* local reads are confined to ``allowed_roots`` after ``os.path.realpath`` (``..`` and
  symlinks resolved on both sides), so a feed cannot point us at ``/etc/shadow`` or follow a
  symlink planted inside a root.  The final path component is opened with ``O_NOFOLLOW`` so a
  symlink swapped in between the check and the open is refused rather than followed.
* http(s) goes only to hosts in ``http_allowed_hosts``, and every redirect hop is re-checked
  against the same list (no open-redirect escape to internal services).  A URL with
  ``user:password@`` is refused before any check or lookup (reason ``credentials_in_url``).
* the host's addresses are resolved once and checked: link-local and cloud-metadata addresses
  (169.254.0.0/16, fe80::/10, fd00:ec2::254) are always refused; loopback, private and other
  non-public addresses only when the allow-list names the IP literal itself (``127.0.0.1``)
  or ``localhost``, or the address is in ``http_allowed_networks``.  The connection goes to
  the checked address (no second DNS lookup that a rebinding name could answer differently);
  TLS still verifies the host name.  Through a proxy (``*_proxy``), the proxy connects.
* both paths are byte-capped: at most ``max_bytes + 1`` bytes are ever read.
* http time: connecting and each header/body read are bounded by ``timeout_s`` (socket
  timeout); the body as a whole also by an overall ``timeout_s`` deadline, so a drip-feeding
  server cannot hold a task for long.  (A server dripping its *headers* is bounded per read
  only; hosts are allow-listed, so this is accepted.)
"""
from __future__ import annotations

import functools
import http.client
import ipaddress
import os
import re
import socket
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Sequence

from adstage import redact
from adstage.reasons import Reason, Rejected

__all__ = ["read_image_bytes"]

_CHUNK = 64 * 1024
_HTTP_SCHEMES = ("http", "https")
# A URI scheme per RFC 3986; anything without one is treated as a (relative) path.
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_USER_AGENT = "adstage-image-fetch/1"


def read_image_bytes(uri: str, *, allowed_roots: Sequence[str],
                     http_allowed_hosts: Sequence[str], timeout_s: float,
                     max_bytes: int, http_allowed_networks: Sequence[str] = ()) -> bytes:
    """Return the bytes behind ``uri`` or raise :class:`Rejected`.

    Accepted forms: an absolute local path, a ``file://`` URI (empty host or ``localhost``)
    and ``http://`` / ``https://`` URLs.  Relative paths are refused: the caller resolves
    feed-relative paths before calling.

    Reasons: OUTSIDE_ALLOWED_ROOT, NOT_FOUND, FETCH_ERROR, EMPTY_FILE, TOO_MANY_BYTES,
    HOST_NOT_ALLOWED, CREDENTIALS_IN_URL, FETCH_TIMEOUT, UNSUPPORTED_SCHEME. Details name the
    URI with its secrets masked (``adstage.redact.uri``).
    """
    if not isinstance(uri, str) or not uri.strip():
        raise Rejected(Reason.UNSUPPORTED_SCHEME, f"empty or non-string image uri: {uri!r}")
    if uri.startswith("/"):
        return _read_local(uri, allowed_roots, max_bytes)
    if not _SCHEME_RE.match(uri):
        raise Rejected(Reason.OUTSIDE_ALLOWED_ROOT,
                       f"relative path {uri!r}: resolve it against the feed before fetching")
    scheme = uri.split(":", 1)[0].lower()
    if scheme == "file":
        return _read_local(_file_uri_to_path(uri), allowed_roots, max_bytes)
    if scheme in _HTTP_SCHEMES:
        return _read_http(uri, http_allowed_hosts, timeout_s, max_bytes, http_allowed_networks)
    raise Rejected(Reason.UNSUPPORTED_SCHEME,
                   f"scheme {scheme!r} is not supported: {redact.uri(uri)!r}")


# ---- local files ---------------------------------------------------------------------------

def _file_uri_to_path(uri: str) -> str:
    """``file:///a/b%20c`` -> ``/a/b c``; refuse remote hosts and relative forms."""
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        # file://host/path names another machine (or is a mistyped relative path).
        raise Rejected(Reason.OUTSIDE_ALLOWED_ROOT,
                       f"file uri naming another host is not a local path: {redact.uri(uri)!r}")
    path = urllib.parse.unquote(parts.path)
    if not path.startswith("/"):
        raise Rejected(Reason.OUTSIDE_ALLOWED_ROOT, f"file uri without absolute path: {uri!r}")
    return path


def _resolve_under_roots(path: str, allowed_roots: Sequence[str]) -> str:
    """Realpath of ``path`` if it lies under one of the (realpath'd) roots, else Rejected."""
    if "\x00" in path:
        raise Rejected(Reason.OUTSIDE_ALLOWED_ROOT, f"path contains a NUL byte: {path!r}")
    real = os.path.realpath(path)
    # Empty strings are skipped on purpose: realpath("") is the current directory.
    for root in (r for r in allowed_roots if r):
        real_root = os.path.realpath(root)
        if os.path.commonpath([real, real_root]) == real_root:
            return real
    if not any(allowed_roots):
        raise Rejected(Reason.OUTSIDE_ALLOWED_ROOT,
                       f"no allowed_roots configured, local read refused: {path!r}")
    shown = path if real == path else f"{path!r} (resolves to {real!r})"
    raise Rejected(Reason.OUTSIDE_ALLOWED_ROOT, f"{shown} is outside the allowed roots")


def _read_local(path: str, allowed_roots: Sequence[str], max_bytes: int) -> bytes:
    """Read a regular file under an allowed root, capped at ``max_bytes``."""
    real = _resolve_under_roots(path, allowed_roots)
    # O_NONBLOCK: opening a FIFO must not hang the task; O_NOFOLLOW: see module docstring.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise Rejected(Reason.NOT_FOUND, f"{path}: {exc.strerror}") from None
    except OSError as exc:
        raise Rejected(Reason.FETCH_ERROR, f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise Rejected(Reason.FETCH_ERROR, f"{path}: is {kind}")
        _check_size(st.st_size, max_bytes, path)
        data = _read_capped_fd(fd, max_bytes)
    except OSError as exc:
        raise Rejected(Reason.FETCH_ERROR, f"{path}: read failed: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    # The size may have changed since fstat (file being rewritten): judge the bytes we got.
    _check_size(len(data), max_bytes, path)
    return data


def _read_capped_fd(fd: int, max_bytes: int) -> bytes:
    """Read until EOF or ``max_bytes + 1`` bytes, whichever comes first."""
    parts: list[bytes] = []
    remaining = max_bytes + 1
    while remaining > 0:
        chunk = os.read(fd, min(_CHUNK * 16, remaining))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _check_size(size: int, max_bytes: int, where: str) -> None:
    if size == 0:
        raise Rejected(Reason.EMPTY_FILE, f"{where}: 0 bytes")
    if size > max_bytes:
        raise Rejected(Reason.TOO_MANY_BYTES, f"{where}: {size} bytes > limit {max_bytes}")


# ---- http(s) -------------------------------------------------------------------------------

def _normalise_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _check_host(url: str, allowed: frozenset[str]) -> None:
    """Refuse ``url`` unless it is http(s) to an allowed host (exact, case-insensitive), with
    no ``user:password@`` (checked first: it is how a URL hides its real host)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in _HTTP_SCHEMES:
        raise Rejected(Reason.UNSUPPORTED_SCHEME,
                       f"scheme {parts.scheme!r} not allowed: {redact.uri(url)!r}")
    if "@" in parts.netloc:
        raise Rejected(Reason.CREDENTIALS_IN_URL,
                       f"image URL with user:password@ refused: {redact.uri(url)!r}")
    host = _normalise_host(parts.hostname or "")
    if not host:
        raise Rejected(Reason.FETCH_ERROR, f"url without a host: {redact.uri(url)!r}")
    if host not in allowed:
        raise Rejected(Reason.HOST_NOT_ALLOWED, f"host {host!r} is not in http_allowed_hosts")


# Always refused, whatever the allow-lists say: instance metadata services and link-local.
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2"))


def _address_refusal(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                     networks: tuple, explicit: bool) -> str | None:
    """Why `host` may not be fetched from `ip`, or None. `explicit`: the allow-list names
    this IP literal, or the host is "localhost" itself."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in _METADATA or ip.is_link_local:
        return f"{host!r} resolves to {ip}, a link-local / cloud metadata address"
    if ip.is_global and not ip.is_multicast:
        return None
    if any(ip.version == net.version and ip in net for net in networks):
        return None
    if explicit and not ip.is_multicast and not ip.is_unspecified:
        return None
    kind = ("loopback" if ip.is_loopback else "private" if ip.is_private else "non-public")
    return (f"{host!r} resolves to {ip}, a {kind} address (name the IP in http_allowed_hosts "
            "or its network in http_allowed_networks to allow it)")


class _Pins:
    """The checked addresses of each (host, port) a request may connect to: resolved once,
    each checked, and the connection made to them (`_connect_pinned`)."""

    def __init__(self, allowed: frozenset[str], networks: Sequence[str]):
        self.allowed = allowed
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)
        self.addresses: dict[tuple[str, int], list[tuple]] = {}

    def check(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        host = _normalise_host(parts.hostname or "")
        try:
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError:
            raise Rejected(Reason.FETCH_ERROR, f"bad port in {redact.uri(url)!r}") from None
        if (host, port) in self.addresses:
            return
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        explicit = (literal is not None and host in self.allowed) or \
            (host == "localhost" and "localhost" in self.allowed)
        try:
            infos = _resolve(host, port, 0, socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError) as exc:
            raise Rejected(Reason.FETCH_ERROR, f"cannot resolve {host!r}: {exc}") from None
        checked = []
        for family, _type, _proto, _name, sockaddr in infos:
            ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
            refusal = _address_refusal(host, ip, self.networks, explicit)
            if refusal:  # one refused address refuses the host: no picking among answers
                raise Rejected(Reason.HOST_NOT_ALLOWED, refusal)
            checked.append((family, sockaddr))
        if not checked:
            raise Rejected(Reason.FETCH_ERROR, f"{host!r} resolves to no address")
        self.addresses[(host, port)] = checked


# The resolver, called once per host and port of a request (tests count the calls).
_resolve = socket.getaddrinfo


def _connect_pinned(pins: _Pins, address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT,
                    source_address=None):
    """`socket.create_connection` to the addresses `pins` checked for this host and port (a
    proxy, which the pins do not name, is connected to as usual)."""
    host, port = address
    targets = pins.addresses.get((_normalise_host(host), port))
    if targets is None:
        return socket.create_connection(address, timeout, source_address)
    error: OSError | None = None
    for family, sockaddr in targets:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error if error else OSError(f"no address to connect to for {host}")


def _pinned(cls, pins: _Pins):
    def make(host, **kwargs):
        conn = cls(host, **kwargs)
        conn._create_connection = functools.partial(_connect_pinned, pins)
        return conn
    return make


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, pins: _Pins):
        super().__init__()
        self._pins = pins

    def http_open(self, req):
        return self.do_open(_pinned(http.client.HTTPConnection, self._pins), req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, pins: _Pins):
        super().__init__()
        self._pins = pins

    def https_open(self, req):
        kwargs = {"context": self._context}
        if hasattr(self, "_check_hostname"):
            kwargs["check_hostname"] = self._check_hostname
        return self.do_open(_pinned(http.client.HTTPSConnection, self._pins), req, **kwargs)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only when its target passes the same checks as the original URL."""

    def __init__(self, pins: _Pins):
        super().__init__()
        self._pins = pins

    def _refuse_unless_allowed(self, req, fp, code, newurl: str) -> None:
        try:
            _check_host(newurl, self._pins.allowed)
            self._pins.check(newurl)
        except Rejected as exc:
            fp.close()
            raise Rejected(exc.reason, f"redirect {code} from {redact.uri(req.full_url)!r} to "
                                       f"{redact.uri(newurl)!r} refused: {exc.detail}") from None

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[override]
        # Checked here, before the stdlib's own scheme filter, so that a redirect to file:,
        # ftp: or another host gets our reason code instead of a generic HTTPError.
        location = headers.get("location") or headers.get("uri")
        if location:
            self._refuse_unless_allowed(req, fp, code,
                                        urllib.parse.urljoin(req.full_url, location.strip()))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        # Second look at the URL the stdlib actually follows (after its own normalising).
        self._refuse_unless_allowed(req, fp, code, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(pins: _Pins) -> urllib.request.OpenerDirector:
    """An opener with http(s) only (build_opener() would also add file:, ftp: and data:),
    connecting to the pinned addresses."""
    opener = urllib.request.OpenerDirector()
    # ProxyHandler honours *_proxy / no_proxy from the environment, as clusters often need.
    for handler in (urllib.request.ProxyHandler(), _PinnedHTTPHandler(pins),
                    _PinnedHTTPSHandler(pins), urllib.request.HTTPDefaultErrorHandler(),
                    _CheckedRedirects(pins), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _is_timeout(exc: BaseException) -> bool:
    # socket.timeout is TimeoutError since 3.10; urllib wraps connect-phase ones in URLError.
    return isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)


def _read_http(url: str, http_allowed_hosts: Sequence[str], timeout_s: float,
               max_bytes: int, http_allowed_networks: Sequence[str] = ()) -> bytes:
    """GET ``url`` with a per-operation timeout, an overall deadline and a byte cap."""
    allowed = frozenset(_normalise_host(h) for h in http_allowed_hosts if h.strip())
    _check_host(url, allowed)
    pins = _Pins(allowed, http_allowed_networks)
    pins.check(url)
    shown = redact.uri(url)
    request = urllib.request.Request(
        url, headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"})
    deadline = time.monotonic() + timeout_s
    try:
        with _opener(pins).open(request, timeout=timeout_s) as resp:
            declared = _declared_length(resp)
            if declared is not None and declared > max_bytes:
                raise Rejected(Reason.TOO_MANY_BYTES,
                               f"{shown}: Content-Length {declared} > limit {max_bytes}")
            data = _read_capped_stream(resp, max_bytes, deadline, shown)
            if declared is not None and len(data) != declared:
                # A connection closed early: http.client's read1() just returns b"" then, so
                # without this a truncated download would pass on as a (truncated) image.
                raise Rejected(Reason.FETCH_ERROR, f"{shown}: body cut short: got {len(data)} of "
                                                   f"{declared} bytes")
    except Rejected:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()  # release the connection held by the error response
        if exc.code in (404, 410):
            raise Rejected(Reason.NOT_FOUND, f"{shown}: HTTP {exc.code}") from None
        raise Rejected(Reason.FETCH_ERROR, f"{shown}: HTTP {exc.code} {exc.reason}") from None
    except Exception as exc:  # URLError, OSError, http.client.HTTPException, InvalidURL...
        if _is_timeout(exc):
            raise Rejected(Reason.FETCH_TIMEOUT, f"{shown}: timed out after {timeout_s}s") from None
        raise Rejected(Reason.FETCH_ERROR, f"{shown}: {type(exc).__name__}: {exc}") from None
    _check_size(len(data), max_bytes, shown)
    return data


def _declared_length(resp: http.client.HTTPResponse) -> int | None:
    value = (resp.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else None


def _read_capped_stream(resp: http.client.HTTPResponse, max_bytes: int, deadline: float,
                        url: str) -> bytes:
    """Read at most ``max_bytes + 1`` bytes, giving up once the overall deadline passes.

    The socket timeout bounds each read; the deadline stops a server that drips bytes just
    fast enough to never trip it.  ``read1`` returns whatever one recv() yields, so the
    deadline is looked at between every arrival (``read(n)`` would block until n bytes).
    """
    parts: list[bytes] = []
    received = 0
    while received <= max_bytes:
        if time.monotonic() > deadline:
            raise TimeoutError(f"overall deadline exceeded after {received} bytes")
        chunk = resp.read1(min(_CHUNK, max_bytes + 1 - received))
        if not chunk:
            break
        parts.append(chunk)
        received += len(chunk)
    if received > max_bytes:
        raise Rejected(Reason.TOO_MANY_BYTES, f"{url}: body exceeds limit {max_bytes} bytes")
    return b"".join(parts)
