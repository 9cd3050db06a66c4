"""A TEST FIXTURE that answers the ClickHouse HTTP interface with the chDB engine.

This is a test fixture, not a server. Do not deploy it, do not point anything but
tests at it, and do not read its behaviour as a description of ClickHouse's.

Why it exists: no current ClickHouse server can be installed on the machines this
project is developed and tested on (the only packaged one, Debian's 18.16, is far too
old for clickhouse-connect), and the project's production code talks to ClickHouse
through clickhouse-connect's ``http(s)://`` client. chDB embeds the real ClickHouse
engine in-process, so this module puts a small HTTP front end in front of it. The
real, unmodified clickhouse-connect HTTP client can then be exercised end to end --
connect handshake, Native-format queries and inserts, compression, settings, query
parameters, sessions and error handling -- over real HTTP on the loopback interface,
against the real ClickHouse engine (SQL parsing, MergeTree, materialized views,
aggregate states, type serialization are all ClickHouse's own code).

Everything between the socket and the engine is a stand-in written for tests: it
implements the parts of the HTTP interface that clickhouse-connect 1.12 uses and
refuses clearly (with a ClickHouse-style error) what it does not implement.

Supported
    * ``GET /ping`` and ``GET /`` (no query) answer ``Ok.\\n``; ``/replicas_status``
      answers ``Ok.\\n``.
    * Queries in the POST body, the ``query`` URL parameter, or both (ClickHouse's
      rule: ``query`` param + newline + body, which is how INSERT data arrives), and
      ``multipart/form-data`` text fields (clickhouse-connect switches to form encoding
      for long bind parameters).
    * Output format: the query's ``FORMAT`` clause, else ``default_format``, else
      TabSeparated; ``X-ClickHouse-Format``/``-Timezone``/``-Query-Id``/``-Summary``
      response headers.
    * Bind parameters ``param_<name>``.
    * Settings passed as URL parameters are applied to the engine for that request
      only (``SET`` on the request's connection); unknown settings are rejected by the
      engine with UNKNOWN_SETTING, as a real server does. HTTP-transport parameters
      (``session_id``, ``query_id``, ``wait_end_of_query``, ``client_protocol_version``,
      progress headers, ...) are consumed here and not sent to the engine.
    * ``database`` parameter (``USE`` for the request).
    * Sessions (``session_id``, ``session_timeout``, ``session_check``): each session
      gets its own chDB connection, so ``SET``/``USE``/temporary tables persist within
      a session exactly as chDB keeps them per connection; concurrent use of one
      session is refused with SESSION_IS_LOCKED. Requests without a session run on a
      fresh connection that is closed afterwards. GET requests without a session run
      with ``readonly=2`` as on a real server.
    * Request bodies with ``Transfer-Encoding: chunked`` and ``Content-Encoding``
      gzip, deflate, zstd, lz4 (frame format, as ClickHouse uses) and br when the
      Python module for it is importable; compressed responses when
      ``enable_http_compression`` is on (chDB's engine default is 1, which the
      client discovers from ``system.settings``) and ``Accept-Encoding`` names one of
      those.
    * Basic auth, ``X-ClickHouse-User``/``X-ClickHouse-Key`` headers and
      ``user``/``password`` URL parameters, checked against one configured user;
      failures answer code 516 AUTHENTICATION_FAILED.
    * Errors: HTTP status from ClickHouse's own exceptionCodeToHTTPStatus mapping
      (so most engine errors are 400/404/500), a ``Code: N. DB::Exception: ...``
      body and the ``X-ClickHouse-Exception-Code`` header.

Not supported (refused or ignored, never emulated)
    * TLS (plain ``http`` only), JWT/bearer tokens, SSL client certificates, roles,
      quotas, users other than the one configured.
    * ClickHouse's own compressed HTTP framing (``compress=1``/``decompress=1``):
      refused with NOT_IMPLEMENTED.
    * External data (file parts in multipart requests): refused with NOT_IMPLEMENTED.
    * ``client_protocol_version`` is ignored, so clickhouse-connect's probe falls back
      to protocol version 0 (Native blocks without BlockInfo), which the client
      supports. At protocol 0 ClickHouse's Native writer (here the engine's own) sends
      ``DateTime('TZ')`` columns as plain ``DateTime`` -- as a real server does for a
      client without a protocol version -- so the client decodes them in the server
      timezone (UTC here); the instants are exact, and DateTime64 keeps its timezone.
    * Results are produced in full before the response starts (as with
      ``wait_end_of_query=1``); there is no streaming, no progress headers, no
      mid-stream exception tag, no query cancellation on disconnect, no
      ``max_execution_time`` kill from the HTTP side (the engine's own limits apply).
    * ``result_rows``/``result_bytes`` in the summary are always 0.

Engine limits (chDB 4.4 / engine 26.9, found by testing):
    * One chDB engine per process, bound to one data path. Any number of connections
      to that same path may be open at once (each is its own session), but opening a
      different path -- including ``:memory:``, which ``chdb.query()`` and
      ``chdb.session.Session()`` without a path use -- fails with BAD_ARGUMENTS
      ("EmbeddedServer already initialized with path ...") while any connection to the
      first path is open. Once every connection is closed, another path can be opened
      in the same process. So: one running ChdbHttpServer per process at a time, no
      other chDB use in the process while it runs, and ``stop()`` before the next one
      starts with a different path.
    * A second connection to the same path works while the engine is open, so two
      fixtures on the same path can even run side by side (they share the data).
    * Each engine start/stop cycle (one per fixture start/stop, same path or not) leaves
      about 5 idle native chDB threads and a few MB of RSS behind in the process; these
      are chDB's, not this fixture's (stop() joins every Python thread it started).
      A suite that starts a few hundred fixtures should expect that growth.
    * Engine calls are serialized with one lock; the fixture handles requests on
      threads but executes them one at a time.

Session caveats: per-request URL settings and ``database`` are undone after each
request in a session (snapshot and restore), except when the request is itself a
``SET``/``USE`` statement; ``readonly=2`` for GET is applied only outside sessions.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hmac
import json
import logging
import os
import re
import socket
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import chdb

_lz4_frame: Any
_zstd: Any
_brotli: Any
try:
    import lz4.frame as _lz4_frame  # type: ignore[import-untyped,no-redef,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _lz4_frame = None
try:
    if sys.version_info >= (3, 14):
        from compression import zstd as _zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
    else:
        from backports import zstd as _zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _zstd = None
try:
    import brotli as _brotli  # type: ignore[import-not-found,no-redef,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

__all__ = ["ChdbHttpServer", "RequestRecord"]

logger = logging.getLogger(__name__)

DISPLAY_NAME = "chdb-http-test-fixture"

# ClickHouse error codes used by this fixture (numbers read from the engine's
# system.errors; ClickHouse never renumbers them).
SYNTAX_ERROR = 62
NOT_IMPLEMENTED = 48
UNKNOWN_SETTING = 115
CANNOT_DECOMPRESS = 271
SESSION_NOT_FOUND = 372
SESSION_IS_LOCKED = 373
INVALID_SESSION_TIMEOUT = 374
AUTHENTICATION_FAILED = 516
STD_EXCEPTION = 1001

_ERROR_NAMES = {
    SYNTAX_ERROR: "SYNTAX_ERROR",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
    UNKNOWN_SETTING: "UNKNOWN_SETTING",
    CANNOT_DECOMPRESS: "CANNOT_DECOMPRESS",
    SESSION_NOT_FOUND: "SESSION_NOT_FOUND",
    SESSION_IS_LOCKED: "SESSION_IS_LOCKED",
    INVALID_SESSION_TIMEOUT: "INVALID_SESSION_TIMEOUT",
    AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
    STD_EXCEPTION: "STD_EXCEPTION",
}

# src/Server/HTTP/exceptionCodeToHTTPStatus.cpp, by code number.
_HTTP_STATUS_BY_CODE: dict[int, int] = {}
for _status, _codes in (
    (401, (194,)),  # REQUIRED_PASSWORD
    (
        403,
        (192, 193, 516, 512, 497),
    ),  # UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED SET_NON_GRANTED_ROLE ACCESS_DENIED
    (
        400,
        # BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_* DUPLICATE_COLUMN ILLEGAL_COLUMN
        # UNKNOWN_ELEMENT_IN_AST UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN TOO_DEEP_AST
        # TOO_BIG_AST UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH
        # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        (
            36,
            427,
            6,
            25,
            26,
            38,
            41,
            72,
            441,
            675,
            676,
            27,
            376,
            15,
            44,
            37,
            123,
            8,
            167,
            168,
            223,
            62,
            117,
            53,
            321,
        ),
    ),
    (
        404,
        # UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE
        # UNKNOWN_DATABASE UNKNOWN_SETTING UNKNOWN_DIRECTION_OF_SORTING
        # UNKNOWN_AGGREGATE_FUNCTION UNKNOWN_FORMAT UNKNOWN_DATABASE_ENGINE
        # UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE
        (60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511),
    ),
    (413, (229,)),  # QUERY_IS_TOO_LARGE
    (501, (48,)),  # NOT_IMPLEMENTED
    (503, (209, 76, 439)),  # SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK
    (411, (381,)),  # HTTP_LENGTH_REQUIRED
    (408, (159,)),  # TIMEOUT_EXCEEDED
    (415, (779,)),  # UNSUPPORTED_MEDIA_TYPE
):
    for _code in _codes:
        _HTTP_STATUS_BY_CODE[_code] = _status

# URL parameters that belong to the HTTP layer, not to the engine's settings.
_TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "session_id",
        "session_timeout",
        "session_check",
        "query_id",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
        "http_zlib_compression_level",
        "http_native_compression_disable_checksumming_on_decompress",
        "cancel_http_readonly_queries_on_client_close",
        "add_http_cors_header",
        "http_response_buffer_size",
        "http_wait_end_of_query",
    }
)

_SETTING_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENGINE_CODE_RE = re.compile(r"\bCode:\s*(\d+)\.")
_LEADING_NOISE_RE = re.compile(rb"(?:\s|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.S)
_KEYWORD_RE = re.compile(rb"[A-Za-z]+")
_INSERT_HEAD_RE = re.compile(r"\s*(INSERT\b.*?\bFORMAT\s+\w+)[ \t]*\r?\n?", re.IGNORECASE | re.S)
_FORMAT_RE = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)", re.IGNORECASE)
_RESULT_KEYWORDS = frozenset(
    {"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK", "VALUES", "FROM", "TABLE"}
)
_BINARY_FORMATS = frozenset(
    {
        "native",
        "rowbinary",
        "rowbinarywithnames",
        "rowbinarywithnamesandtypes",
        "rowbinarywithdefaults",
        "parquet",
        "arrow",
        "arrowstream",
        "orc",
        "avro",
        "protobuf",
        "protobufsingle",
        "capnproto",
        "msgpack",
        "bsoneachrow",
        "npy",
    }
)
_DEFAULT_SESSION_TIMEOUT = 60
_MAX_SESSION_TIMEOUT = 3600


class _ClickHouseError(Exception):
    """An error answered to the client in ClickHouse's HTTP error shape."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def fixture(cls, code: int, text: str) -> _ClickHouseError:
        """An error raised by the fixture itself (not by the engine)."""
        return cls(code, f"Code: {code}. DB::Exception: {text}. ({_ERROR_NAMES.get(code, 'UNKNOWN_EXCEPTION')})")

    @classmethod
    def from_engine(cls, ex: BaseException) -> _ClickHouseError:
        text = str(ex).strip()
        match = _ENGINE_CODE_RE.search(text)
        if match:
            return cls(int(match.group(1)), text)
        return cls.fixture(STD_EXCEPTION, f"{type(ex).__name__}: {text}")


@dataclass
class RequestRecord:
    """What the fixture received and answered for one request (credentials masked)."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    query: str = ""
    session_id: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    request_encoding: str | None = None
    response_encoding: str | None = None
    status: int = 0
    exception_code: int | None = None


@dataclass
class _Session:
    conn: Any
    timeout: int
    last_used: float
    busy: bool = False


@dataclass
class _Result:
    body: bytes
    fmt: str | None
    summary: dict[str, str]
    timezone: str


# --------------------------------------------------------------------------- helpers


def _quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _decode_body(body: bytes, encoding: str | None) -> bytes:
    enc = (encoding or "").strip().lower()
    if not body or enc in ("", "identity"):
        return body
    try:
        if enc in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if enc == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)
        if enc == "zstd" and _zstd is not None:
            return bytes(_zstd.decompress(body))
        if enc == "lz4" and _lz4_frame is not None:
            # clickhouse-connect sends one LZ4 frame per block; decode them all.
            out = []
            data = body
            while data:
                decompressor = _lz4_frame.LZ4FrameDecompressor()
                out.append(decompressor.decompress(data))
                if not decompressor.eof:
                    raise ValueError("truncated lz4 frame")
                data = decompressor.unused_data
            return b"".join(out)
        if enc == "br" and _brotli is not None:
            return bytes(_brotli.decompress(body))
    except Exception as ex:  # noqa: BLE001 - any codec failure is a bad request body
        raise _ClickHouseError.fixture(CANNOT_DECOMPRESS, f"Cannot decompress {enc} request body: {ex}") from ex
    raise _ClickHouseError.fixture(
        NOT_IMPLEMENTED, f"Unsupported Content-Encoding '{encoding}' in the chdb HTTP test fixture"
    )


def _response_encodings() -> list[str]:
    encodings = []
    if _lz4_frame is not None:
        encodings.append("lz4")
    if _zstd is not None:
        encodings.append("zstd")
    if _brotli is not None:
        encodings.append("br")
    encodings.extend(["gzip", "deflate"])
    return encodings


def _choose_response_encoding(accept_encoding: str | None) -> str | None:
    if not accept_encoding:
        return None
    supported = _response_encodings()
    for item in accept_encoding.split(","):
        name = item.split(";")[0].strip().lower()
        if name in supported:
            return name
    return None


def _encode_body(body: bytes, encoding: str) -> bytes:
    if encoding == "lz4":
        return bytes(_lz4_frame.compress(body))
    if encoding == "zstd":
        return bytes(_zstd.compress(body))
    if encoding == "br":
        return bytes(_brotli.compress(body))
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    raise AssertionError(encoding)


def _content_type(fmt: str | None) -> str:
    if not fmt:
        return "text/plain; charset=UTF-8"
    lower = fmt.lower()
    if lower in _BINARY_FORMATS:
        return "application/octet-stream"
    if lower.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if lower.startswith("csv"):
        return "text/csv; charset=UTF-8; header=absent"
    if lower.startswith("json"):
        return "application/json; charset=UTF-8"
    return "text/plain; charset=UTF-8"


def _leading_keyword(sql: bytes) -> str:
    head = sql[:4096]
    noise = _LEADING_NOISE_RE.match(head)
    pos = noise.end() if noise else 0
    match = _KEYWORD_RE.match(head, pos)
    return match.group(0).decode("ascii").upper() if match else ""


def _output_format(sql: bytes, keyword: str, default_format: str) -> str | None:
    """The output format a statement answers in, or None when it has no result set."""
    if keyword not in _RESULT_KEYWORDS:
        return None
    found = _FORMAT_RE.findall(sql[-65536:].decode("latin-1"))
    return found[-1] if found else default_format


def _sql_for_log(query_param: str, body: bytes, multipart: bool) -> str:
    """The request's SQL for RequestRecord.query, with binary insert data abbreviated."""
    if multipart or not body:
        return query_param
    try:
        text = body.decode("utf-8")
        if any(ch < " " and ch not in "\t\r\n" for ch in text[:4000]):
            raise UnicodeDecodeError("utf-8", body, 0, 1, "control characters")
    except UnicodeDecodeError:
        head = _INSERT_HEAD_RE.match(body[:65536].decode("latin-1"))
        if head:
            text = f"{head.group(1)}\n<{len(body) - head.end()} bytes of data>"
        else:
            text = f"<{len(body)} bytes of binary data>"
    else:
        if len(text) > 4000:
            text = text[:4000] + f"... <{len(body)} bytes>"
    return f"{query_param}\n{text}" if query_param else text


@contextlib.contextmanager
def _insert_data_as_file(sql: bytes) -> Iterator[bytes]:
    """Hand an INSERT's data to the engine as a file (``FROM INFILE``), not inline in the query.

    A real server streams INSERT data apart from the query text. chDB parses inline data out of
    the query string, and misreads some binary blocks there (a Native block whose first bytes
    are two newline bytes, e.g. 10 rows whose first column name has 10 letters), so the data goes
    through a temporary file, which the engine reads as it would a stream.
    """
    head = _INSERT_HEAD_RE.match(sql[:65536].decode("latin-1")) if _leading_keyword(sql) == "INSERT" else None
    data = sql[head.end() :] if head else b""
    if head is None or not data.strip():
        yield sql
        return
    statement = head.group(1)
    cut = _FORMAT_RE.search(statement)
    assert cut is not None  # the head pattern ends with FORMAT <name>
    with tempfile.NamedTemporaryFile(prefix="chdb-insert-", suffix=".data", delete=False) as handle:
        handle.write(data)
    try:
        rewritten = f"{statement[: cut.start()]} FROM INFILE {_quote_literal(handle.name)} {statement[cut.start() :]}"
        yield rewritten.encode("latin-1")
    finally:
        os.unlink(handle.name)


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], list[str]]:
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: list[str] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None:
            files.append(str(name))
            continue
        payload = part.get_payload(decode=True)
        if name is not None:
            fields[str(name)] = payload.decode("utf-8") if isinstance(payload, bytes) else ""

    return fields, files


# --------------------------------------------------------------------------- HTTP layer


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # handler threads are tracked and joined by ChdbHttpServer.stop()
    allow_reuse_address = True

    def __init__(self, fixture: ChdbHttpServer, address: tuple[str, int]):
        self.fixture = fixture
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"chdb-http-fixture-conn-{client_address[1]}",
            daemon=True,
        )
        self.fixture._track_thread(thread)
        thread.start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = DISPLAY_NAME
    sys_version = ""
    timeout = 30  # idle keep-alive connections are dropped after this many seconds
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm and the client's delayed ACKs add ~40 ms to
        # every response written in more than one segment.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fixture._register_socket(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fixture._unregister_socket(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - fixed by the base class
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("connection closed inside a chunked body")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after the chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        try:
            body = self._read_body()
        except (ValueError, ConnectionError, OSError):
            self.close_connection = True
            return
        status, headers, payload = self.server.fixture._handle(method, self.path, self.headers, body)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if method != "HEAD" and payload:
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True


# --------------------------------------------------------------------------- fixture


class ChdbHttpServer:
    """A ClickHouse-HTTP-interface test fixture on 127.0.0.1, backed by chDB at ``path``.

    ``start()`` opens the chDB engine on ``path`` and starts answering on an
    ephemeral port; ``stop()`` closes every connection, joins every thread it started
    and closes every chDB connection (after which another path can be opened in the
    process). Usable as a context manager. See the module docstring for what is and
    is not implemented.
    """

    def __init__(
        self, path: str, password: str = "", *, username: str = "default", host: str = "127.0.0.1", port: int = 0
    ):
        if "?" in path:
            raise ValueError("chDB data path must not contain '?' (it would be read as connection options)")
        self.path = path
        self.username = username
        self.password = password
        self.host = host
        self._bind_port = port  # 0: an ephemeral port at the first start, then the same one at every restart
        self.requests: deque[RequestRecord] = deque(maxlen=2000)
        self.engine_version = ""
        self.server_timezone = "UTC"
        self._engine_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._httpd: _HttpServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._keeper: Any = None
        self._http_compression_default = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ChdbHttpServer:
        if self._httpd is not None:
            raise RuntimeError("ChdbHttpServer already started")
        # The keeper connection holds the engine open on this path for the fixture's
        # whole life; it fails here if another chDB path is open in this process.
        self._keeper = chdb.connect(self.path)  # type: ignore[no-untyped-call]
        try:
            row = self._keeper.query(
                "SELECT version(), timezone(), "
                "(SELECT value FROM system.settings WHERE name = 'enable_http_compression')",
                "TabSeparated",
            )
            version, tz, http_compression = row.bytes().decode().rstrip("\n").split("\t")
            self.engine_version, self.server_timezone = version, tz
            self._http_compression_default = http_compression not in ("", "0")
            self._stopping = False
            self._httpd = _HttpServer(self, (self.host, self._bind_port))
            self._bind_port = self._httpd.server_address[1]
        except BaseException:
            self._keeper.close()
            self._keeper = None
            raise
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="chdb-http-fixture-accept",
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop answering, drop client connections, join threads, close chDB connections."""
        httpd = self._httpd
        if httpd is None:
            return
        httpd.shutdown()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout)
        with self._state_lock:
            self._stopping = True
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        deadline = time.monotonic() + timeout
        with self._state_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        if self._serve_thread is not None and self._serve_thread.is_alive():
            alive.append(self._serve_thread.name)
        with self._engine_lock:
            with self._state_lock:
                sessions = list(self._sessions.values())
                self._sessions.clear()
            for session in sessions:
                session.conn.close()
            if self._keeper is not None:
                self._keeper.close()
                self._keeper = None
        self._httpd = None
        self._serve_thread = None
        with self._state_lock:
            self._threads = [t for t in self._threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"ChdbHttpServer.stop(): threads still alive after {timeout}s: {alive}")

    def __enter__(self) -> ChdbHttpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ChdbHttpServer is not running")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` without credentials."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://USER:PASSWORD@127.0.0.1:PORT`` (usable as a clickhouse-connect dsn)."""
        creds = quote(self.username, safe="")
        if self.password:
            creds += ":" + quote(self.password, safe="")
        return f"http://{creds}@{self.host}:{self.port}"

    def dsn(self, database: str = "default") -> str:
        return f"{self.url}/{quote(database, safe='')}"

    def thread_names(self) -> list[str]:
        """Names of the fixture's threads that are still alive (empty once stopped)."""
        with self._state_lock:
            names = [t.name for t in self._threads if t.is_alive()]
        if self._serve_thread is not None and self._serve_thread.is_alive():
            names.append(self._serve_thread.name)
        return names

    # ------------------------------------------------------------------ bookkeeping

    def _track_thread(self, thread: threading.Thread) -> None:
        with self._state_lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    def _register_socket(self, sock: socket.socket) -> None:
        with self._state_lock:
            if self._stopping:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return
            self._sockets.add(sock)

    def _unregister_socket(self, sock: socket.socket) -> None:
        with self._state_lock:
            self._sockets.discard(sock)

    # ------------------------------------------------------------------ request handling

    def _handle(self, method: str, raw_path: str, headers: Message, body: bytes) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        record = RequestRecord(
            method=method,
            path=split.path,
            params={k: ("***" if k == "password" else v) for k, v in params.items()},
            headers={
                k: ("***" if k.lower() in ("authorization", "x-clickhouse-key") else v) for k, v in headers.items()
            },
            request_encoding=headers.get("Content-Encoding"),
        )
        query_id = params.get("query_id") or str(uuid.uuid4())
        base_headers = {"X-ClickHouse-Server-Display-Name": DISPLAY_NAME, "X-ClickHouse-Query-Id": query_id}
        path = split.path.rstrip("/") or "/"
        try:
            if path in ("/ping", "/replicas_status") and method in ("GET", "HEAD"):
                return self._finish(record, 200, {"Content-Type": "text/plain; charset=UTF-8"}, b"Ok.\n")
            if path != "/":
                return self._finish(
                    record,
                    404,
                    {"Content-Type": "text/plain; charset=UTF-8"},
                    b"There is no handle " + path.encode() + b"\n",
                )
            if method in ("GET", "HEAD") and "query" not in params:
                return self._finish(record, 200, {"Content-Type": "text/plain; charset=UTF-8"}, b"Ok.\n")
            self._authenticate(headers, params)
            try:
                result = self._execute(method, params, headers, body, record)
            except _ClickHouseError:
                raise
            except Exception as ex:  # noqa: BLE001 - a fixture bug must still answer the client
                logger.exception("chdb http fixture: unexpected failure")
                raise _ClickHouseError.fixture(
                    STD_EXCEPTION, f"chdb HTTP test fixture failure: {type(ex).__name__}: {ex}"
                ) from ex
        except _ClickHouseError as ex:
            record.exception_code = ex.code
            text = f"{ex.message} (version {self.engine_version or 'unknown'} (chdb http test fixture))\n"
            err_headers = dict(base_headers)
            err_headers["X-ClickHouse-Exception-Code"] = str(ex.code)
            err_headers["Content-Type"] = "text/plain; charset=UTF-8"
            return self._finish(record, _HTTP_STATUS_BY_CODE.get(ex.code, 500), err_headers, text.encode())

        out_headers = dict(base_headers)
        out_headers["X-ClickHouse-Timezone"] = result.timezone
        out_headers["X-ClickHouse-Summary"] = json.dumps(result.summary, separators=(",", ":"))
        out_headers["Content-Type"] = _content_type(result.fmt)
        if result.fmt:
            out_headers["X-ClickHouse-Format"] = result.fmt
        payload = result.body
        compression_param = params.get("enable_http_compression")
        compression_on = (
            self._http_compression_default if compression_param is None else compression_param not in ("0", "false")
        )
        if payload and compression_on:
            encoding = _choose_response_encoding(headers.get("Accept-Encoding"))
            if encoding:
                payload = _encode_body(payload, encoding)
                out_headers["Content-Encoding"] = encoding
                record.response_encoding = encoding
        return self._finish(record, 200, out_headers, payload)

    def _finish(
        self, record: RequestRecord, status: int, headers: dict[str, str], payload: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        headers.setdefault("X-ClickHouse-Server-Display-Name", DISPLAY_NAME)
        headers.setdefault("Keep-Alive", f"timeout={_Handler.timeout}")
        record.status = status
        self.requests.append(record)
        return status, headers, payload

    def _authenticate(self, headers: Message, params: dict[str, str]) -> None:
        if headers.get("X-ClickHouse-SSL-Certificate-Auth"):
            raise _ClickHouseError.fixture(
                AUTHENTICATION_FAILED,
                "SSL certificate authentication is not supported by the chdb HTTP test fixture",
            )
        user, password = "default", ""
        auth = headers.get("Authorization")
        if headers.get("X-ClickHouse-User") is not None:
            user, password = headers.get("X-ClickHouse-User", ""), headers.get("X-ClickHouse-Key", "")
        elif auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "basic":
                raise _ClickHouseError.fixture(
                    AUTHENTICATION_FAILED,
                    f"{scheme} authentication is not supported by the chdb HTTP test fixture",
                )
            try:
                user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                raise _ClickHouseError.fixture(AUTHENTICATION_FAILED, "Malformed Basic authorization header") from None
        elif "user" in params or "password" in params:
            user, password = params.get("user", "default"), params.get("password", "")
        ok = hmac.compare_digest(user.encode(), self.username.encode()) & hmac.compare_digest(
            password.encode(), self.password.encode()
        )
        if not ok:
            raise _ClickHouseError.fixture(
                AUTHENTICATION_FAILED,
                f"{user}: Authentication failed: password is incorrect, or there is no user with such name",
            )

    def _execute(
        self, method: str, params: dict[str, str], headers: Message, body: bytes, record: RequestRecord
    ) -> _Result:
        content_type = headers.get("Content-Type", "")
        multipart = content_type.lower().startswith("multipart/form-data")
        if multipart:
            fields, files = _parse_multipart(content_type, body)
            if files:
                raise _ClickHouseError.fixture(
                    NOT_IMPLEMENTED,
                    f"External data ({', '.join(files)}) is not supported by the chdb HTTP test fixture",
                )
            params = {**params, **fields}
            body = b""
        else:
            body = _decode_body(body, headers.get("Content-Encoding"))
        for flag in ("compress", "decompress"):
            if params.get(flag, "0") not in ("0", "", "false"):
                raise _ClickHouseError.fixture(
                    NOT_IMPLEMENTED,
                    f"ClickHouse-native HTTP compression ({flag}=1) is not supported by the chdb HTTP "
                    "test fixture; use Content-Encoding/Accept-Encoding instead",
                )

        query_param = params.get("query", "")
        record.query = _sql_for_log(query_param, body, multipart)
        sql = (
            (query_param.encode("utf-8") + b"\n" + body)
            if query_param and body
            else (query_param.encode("utf-8") or body)
        )
        if not sql.strip():
            raise _ClickHouseError.fixture(SYNTAX_ERROR, "Empty query")
        with _insert_data_as_file(sql) as sql:
            return self._execute_sql(method, params, sql, record)

    def _execute_sql(self, method: str, params: dict[str, str], sql: bytes, record: RequestRecord) -> _Result:
        bind_params = {k[len("param_") :]: v for k, v in params.items() if k.startswith("param_")}
        settings = {k: v for k, v in params.items() if k not in _TRANSPORT_PARAMS and not k.startswith("param_")}
        for name in settings:
            if not _SETTING_NAME_RE.match(name):
                raise _ClickHouseError.fixture(UNKNOWN_SETTING, f"Unknown setting '{name}'")
        record.settings = dict(settings)
        default_format = params.get("default_format") or "TabSeparated"
        keyword = _leading_keyword(sql)
        fmt = _output_format(sql, keyword, default_format)
        timezone = params.get("session_timezone") or self.server_timezone

        session_id = params.get("session_id") or None
        record.session_id = session_id
        if session_id is None:
            if method == "GET":
                settings = {"readonly": "2", **settings}
            result = self._run_fresh(sql, default_format, bind_params, settings, params.get("database"))
        else:
            session = self._acquire_session(session_id, params)
            try:
                result = self._run_in_session(
                    session, sql, keyword, default_format, bind_params, settings, params.get("database")
                )
            finally:
                with self._state_lock:
                    session.busy = False
                    session.last_used = time.monotonic()
        body_out = result.bytes() if result is not None else b""
        return _Result(
            body=body_out,
            fmt=fmt or (default_format if body_out else None),
            summary=_summary(result),
            timezone=timezone,
        )

    # ------------------------------------------------------------------ engine access

    def _acquire_session(self, session_id: str, params: dict[str, str]) -> _Session:
        raw_timeout = params.get("session_timeout")
        try:
            timeout = _DEFAULT_SESSION_TIMEOUT if raw_timeout in (None, "") else int(raw_timeout)
        except ValueError:
            timeout = -1
        if not 0 <= timeout <= _MAX_SESSION_TIMEOUT:
            raise _ClickHouseError.fixture(
                INVALID_SESSION_TIMEOUT,
                f"Invalid session timeout: '{raw_timeout}', "
                f"valid values are integers within [0, {_MAX_SESSION_TIMEOUT}]",
            )
        now = time.monotonic()
        with self._state_lock:
            expired = [
                sid
                for sid, s in self._sessions.items()
                if not s.busy and sid != session_id and now - s.last_used > s.timeout
            ]
            stale = [self._sessions.pop(sid) for sid in expired]
            session = self._sessions.get(session_id)
            if session is not None and now - session.last_used > session.timeout and not session.busy:
                stale.append(self._sessions.pop(session_id))
                session = None
            if session is not None:
                if session.busy:
                    raise _ClickHouseError.fixture(
                        SESSION_IS_LOCKED, f"Session {session_id} is locked by a concurrent client"
                    )
                session.busy = True
                session.timeout = timeout
        if stale:
            with self._engine_lock:
                for s in stale:
                    s.conn.close()
        if session is not None:
            return session
        if params.get("session_check", "0") not in ("0", ""):
            raise _ClickHouseError.fixture(SESSION_NOT_FOUND, f"Session {session_id} not found")
        with self._engine_lock:
            conn = self._connect()
        with self._state_lock:
            existing = self._sessions.get(session_id)
            if existing is not None:  # lost a creation race with a concurrent request
                conn_to_close, session = conn, existing
                if session.busy:
                    session = None
                else:
                    session.busy = True
            else:
                conn_to_close = None
                session = self._sessions[session_id] = _Session(conn, timeout, time.monotonic(), busy=True)
        if conn_to_close is not None:
            with self._engine_lock:
                conn_to_close.close()
        if session is None:
            raise _ClickHouseError.fixture(SESSION_IS_LOCKED, f"Session {session_id} is locked by a concurrent client")
        return session

    def _connect(self) -> Any:
        if self._keeper is None:
            raise _ClickHouseError.fixture(STD_EXCEPTION, "The chdb HTTP test fixture is stopped")
        try:
            return chdb.connect(self.path)  # type: ignore[no-untyped-call]
        except Exception as ex:  # noqa: BLE001
            raise _ClickHouseError.from_engine(ex) from ex

    @staticmethod
    def _query(conn: Any, sql: str | bytes, fmt: str = "TabSeparated", params: dict[str, str] | None = None) -> Any:
        try:
            return conn.query(sql, fmt, params=params or {})
        except Exception as ex:  # noqa: BLE001 - every engine failure goes back to the client
            raise _ClickHouseError.from_engine(ex) from ex

    def _apply(self, conn: Any, settings: dict[str, str], database: str | None) -> None:
        if database:
            self._query(conn, f"USE {_quote_identifier(database)}")
        if settings:
            assignments = ", ".join(f"{name} = {_quote_literal(value)}" for name, value in settings.items())
            self._query(conn, f"SET {assignments}")

    def _run_fresh(
        self,
        sql: bytes,
        default_format: str,
        bind_params: dict[str, str],
        settings: dict[str, str],
        database: str | None,
    ) -> Any:
        with self._engine_lock:
            conn = self._connect()
            try:
                self._apply(conn, settings, database)
                return self._query(conn, sql, default_format, bind_params)
            finally:
                conn.close()

    def _run_in_session(
        self,
        session: _Session,
        sql: bytes,
        keyword: str,
        default_format: str,
        bind_params: dict[str, str],
        settings: dict[str, str],
        database: str | None,
    ) -> Any:
        conn = session.conn
        with self._engine_lock:
            snapshot: dict[str, tuple[str, bool]] = {}
            previous_db = None
            if settings:
                names = ", ".join(_quote_literal(n) for n in settings)
                rows = self._query(
                    conn,
                    f"SELECT name, value, changed FROM system.settings WHERE name IN ({names})",  # noqa: S608
                    "JSONEachRow",
                )
                for line in rows.bytes().splitlines():
                    row = json.loads(line)
                    snapshot[row["name"]] = (row["value"], bool(row["changed"]))
                for name in settings:  # e.g. custom_* settings: back to DEFAULT afterwards
                    snapshot.setdefault(name, ("", False))
            if database:
                previous_db = self._query(conn, "SELECT currentDatabase()").bytes().decode().rstrip("\n")
            try:
                self._apply(conn, settings, database)
                return self._query(conn, sql, default_format, bind_params)
            finally:
                # Per-request settings and database must not leak into the session,
                # but a SET/USE statement that is itself the request does persist.
                if snapshot and keyword != "SET":
                    restore = []
                    for name, (value, changed) in snapshot.items():
                        literal = (
                            value
                            if value.startswith("'") and value.endswith("'") and len(value) > 1
                            else _quote_literal(value)
                        )
                        restore.append(f"{name} = {literal}" if changed else f"{name} = DEFAULT")
                    try:
                        self._query(conn, "SET " + ", ".join(restore))
                    except _ClickHouseError:
                        logger.warning(
                            "chdb http fixture: could not restore session settings %s", restore, exc_info=True
                        )
                if previous_db is not None and keyword != "USE":
                    try:
                        self._query(conn, f"USE {_quote_identifier(previous_db)}")
                    except _ClickHouseError:
                        logger.warning("chdb http fixture: could not restore session database", exc_info=True)


def _summary(result: Any) -> dict[str, str]:
    if result is None:
        return {}
    read_rows = result.rows_read()
    return {
        "read_rows": str(read_rows),
        "read_bytes": str(result.bytes_read()),
        "written_rows": str(result.rows_written()),
        "written_bytes": str(result.bytes_written()),
        "total_rows_to_read": str(read_rows),
        "result_rows": "0",
        "result_bytes": "0",
        "elapsed_ns": str(int(result.elapsed() * 1_000_000_000)),
    }
