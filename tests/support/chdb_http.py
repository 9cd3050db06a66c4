"""A TEST FIXTURE that answers the ClickHouse HTTP interface with the chDB engine.

This is a test fixture, not a server. Do not deploy it, do not point anything but
tests at it, and do not read its behaviour as a description of ClickHouse's.

Why it exists: no current ClickHouse server can be installed on the machines this
project is developed and tested on (the only packaged one, Debian's 18.16, is far too
old for clickhouse-connect), and the project's production code talks to ClickHouse
through clickhouse-connect's ``http(s)://`` client. chDB embeds the real ClickHouse
engine in-process, so this module puts a small HTTP front end in front of it. The
real, unmodified clickhouse-connect HTTP client can then be exercised end to end --
connect handshake, Native-format queries and inserts, settings, query parameters and
error handling -- over real HTTP on the loopback interface, against the real ClickHouse
engine (SQL parsing, MergeTree, materialized views, aggregate states, type serialization
are all ClickHouse's own code).

Everything between the socket and the engine is a stand-in written for tests: it
implements what clickhouse-connect 1.12 sends as ``sinks/clickhouse/warehouse.py``
configures it (Basic auth, ``compress=False``, a session id per client) and refuses
clearly, with a ClickHouse-style error, what it does not implement.

Supported
    * ``GET /ping`` answers ``Ok.\\n``.
    * ``POST /`` with the query in the body, in the ``query`` URL parameter, or both
      (ClickHouse's rule: ``query`` param + newline + body), as a plain or chunked body,
      and ``multipart/form-data`` text fields (clickhouse-connect switches to form
      encoding for bind parameters longer than 4 KB).
    * Output format: the query's ``FORMAT`` clause, else TabSeparated;
      ``X-ClickHouse-Format``/``-Timezone``/``-Query-Id``/``-Summary`` response headers.
    * Bind parameters ``param_<name>``; settings passed as URL parameters, applied to the
      engine for that request only (unknown ones fail with the engine's UNKNOWN_SETTING);
      the ``database`` parameter. HTTP-level parameters (``session_id``, ``query_id``,
      ``wait_end_of_query``, ``client_protocol_version``, progress headers, ...) are
      consumed here and not sent to the engine.
    * Sessions: ``session_id`` is recorded and a session used by two requests at once is
      refused with SESSION_IS_LOCKED, as on a server. Every request runs on a fresh chDB
      connection, so nothing a request sets outlives it.
    * Basic auth against one configured user; failures answer 516 AUTHENTICATION_FAILED.
    * Errors: HTTP status from ClickHouse's own exceptionCodeToHTTPStatus mapping (the
      client retries 503s), a ``Code: N. DB::Exception: ...`` body and the
      ``X-ClickHouse-Exception-Code`` header.

Not supported (refused, never emulated)
    * Compression of either kind (``Content-Encoding`` bodies, ``compress=1``): answers
      come uncompressed, as to a client that accepts only ``identity``.
    * Session state: ``SET`` and ``USE`` in a session are refused, and a temporary table
      does not outlive its request.
    * GET queries, TLS, other authentication schemes, users other than the one
      configured, external data.
    * ``client_protocol_version`` is ignored, so clickhouse-connect's probe falls back
      to protocol version 0 (Native blocks without BlockInfo), which the client
      supports. At protocol 0 ClickHouse's Native writer (here the engine's own) sends
      ``DateTime('TZ')`` columns as plain ``DateTime`` -- as a real server does for a
      client without a protocol version -- so the client decodes them in the server
      timezone (UTC here); the instants are exact, and DateTime64 keeps its timezone.
    * Results are produced in full before the response starts (as with
      ``wait_end_of_query=1``); no streaming, progress headers or cancellation.

Engine limits (chDB 4.4 / engine 26.9, found by testing):
    * One chDB engine per process, bound to one data path. Any number of connections
      to that same path may be open at once, but opening a different path -- including
      ``:memory:``, which ``chdb.query()`` uses -- fails with BAD_ARGUMENTS
      ("EmbeddedServer already initialized with path ...") while any connection to the
      first path is open. So: one running ChdbHttpServer per process at a time, no other
      chDB use in the process while it runs, and ``stop()`` before the next one starts
      with a different path.
    * Each engine start/stop cycle leaves about 5 idle native chDB threads and a few MB
      of RSS behind in the process; these are chDB's, not this fixture's (stop() joins
      every Python thread it started).
    * Engine calls are serialized with one lock; requests are handled on threads but
      executed one at a time.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
import uuid
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

__all__ = ["ChdbHttpServer", "RequestRecord"]

logger = logging.getLogger(__name__)

DISPLAY_NAME = "chdb-http-test-fixture"

# ClickHouse error codes used by this fixture (numbers read from the engine's
# system.errors; ClickHouse never renumbers them).
SYNTAX_ERROR = 62
NOT_IMPLEMENTED = 48
UNKNOWN_SETTING = 115
SESSION_IS_LOCKED = 373
AUTHENTICATION_FAILED = 516
STD_EXCEPTION = 1001

_ERROR_NAMES = {
    SYNTAX_ERROR: "SYNTAX_ERROR",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
    UNKNOWN_SETTING: "UNKNOWN_SETTING",
    SESSION_IS_LOCKED: "SESSION_IS_LOCKED",
    AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
    STD_EXCEPTION: "STD_EXCEPTION",
}

# src/Server/HTTP/exceptionCodeToHTTPStatus.cpp, by code number; any other code is 500.
_HTTP_STATUS_BY_CODE = {
    code: status
    for status, codes in (
        (401, (194,)),  # REQUIRED_PASSWORD
        (403, (192, 193, 516, 512, 497)),  # UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED ... ACCESS_DENIED
        # BAD_ARGUMENTS, CANNOT_PARSE_*, SYNTAX_ERROR, TYPE_MISMATCH and the rest of the client's mistakes
        (
            400,
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
        # UNKNOWN_TABLE, UNKNOWN_FUNCTION, UNKNOWN_IDENTIFIER, UNKNOWN_SETTING and the other UNKNOWN_*
        (404, (60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511)),
        (413, (229,)),  # QUERY_IS_TOO_LARGE
        (501, (48,)),  # NOT_IMPLEMENTED
        (503, (209, 76, 439)),  # SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK
        (408, (159,)),  # TIMEOUT_EXCEEDED
    )
    for code in codes
}

# URL parameters that belong to the HTTP layer, not to the engine's settings.
_TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "session_id",
        "query_id",
        "wait_end_of_query",
        "client_protocol_version",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
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
    status: int = 0
    exception_code: int | None = None


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


def _leading_keyword(sql: bytes) -> str:
    head = sql[:4096]
    noise = _LEADING_NOISE_RE.match(head)
    pos = noise.end() if noise else 0
    match = _KEYWORD_RE.match(head, pos)
    return match.group(0).decode("ascii").upper() if match else ""


def _output_format(sql: bytes, keyword: str) -> str | None:
    """The output format a statement answers in, or None when it has no result set (the client
    tells an empty result from a statement without one by the format header)."""
    if keyword not in _RESULT_KEYWORDS:
        return None
    found = _FORMAT_RE.findall(sql[-65536:].decode("latin-1"))
    return found[-1] if found else "TabSeparated"


def _sql_for_log(query_param: str, body: bytes) -> str:
    """The request's SQL for RequestRecord.query, with binary insert data abbreviated."""
    if not body:
        return query_param
    try:
        text = body.decode("utf-8")
        if any(ch < " " and ch not in "\t\r\n" for ch in text[:4000]):
            raise UnicodeDecodeError("utf-8", body, 0, 1, "control characters")
    except UnicodeDecodeError:
        head = _INSERT_HEAD_RE.match(body[:65536].decode("latin-1"))
        text = f"{head.group(1)}\n<{len(body) - head.end()} bytes of data>" if head else f"<{len(body)} bytes>"
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


def _form_fields(content_type: str, body: bytes) -> dict[str, str]:
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name, payload = part.get_param("name", header="content-disposition"), part.get_payload(decode=True)
        if name is not None:
            fields[str(name)] = payload.decode("utf-8") if isinstance(payload, bytes) else ""
    return fields


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

    def _read_body(self) -> bytes:
        """A Content-Length body, or a chunked one (clickhouse-connect streams inserts)."""
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""
        chunks = []
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionError("connection closed inside a chunked body")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)  # CRLF after the chunk
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

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
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


# --------------------------------------------------------------------------- fixture


class ChdbHttpServer:
    """A ClickHouse-HTTP-interface test fixture on 127.0.0.1, backed by chDB at ``path``.

    ``start()`` opens the chDB engine on ``path`` and starts answering on an ephemeral
    port (the same one again after a ``stop()``); ``stop()`` closes every connection,
    joins every thread it started and closes the engine (after which another path can be
    opened in the process). Usable as a context manager. See the module docstring for
    what is and is not implemented.
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
        self._busy_sessions: set[str] = set()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._httpd: _HttpServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._keeper: Any = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ChdbHttpServer:
        if self._httpd is not None:
            raise RuntimeError("ChdbHttpServer already started")
        # The keeper connection holds the engine open on this path for the fixture's
        # whole life; it fails here if another chDB path is open in this process.
        self._keeper = chdb.connect(self.path)  # type: ignore[no-untyped-call]
        try:
            row = self._keeper.query("SELECT version(), timezone()", "TabSeparated")
            self.engine_version, self.server_timezone = row.bytes().decode().rstrip("\n").split("\t")
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
        """Stop answering, drop client connections, join threads, close the engine."""
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
            params=params,
            headers={k: ("***" if k.lower() == "authorization" else v) for k, v in headers.items()},
        )
        base_headers = {"X-ClickHouse-Query-Id": params.get("query_id") or str(uuid.uuid4())}
        path = split.path.rstrip("/") or "/"
        if path == "/ping" and method == "GET":
            return self._finish(record, 200, {"Content-Type": "text/plain; charset=UTF-8"}, b"Ok.\n")
        if path != "/":
            return self._finish(record, 404, {"Content-Type": "text/plain"}, f"There is no handle {path}\n".encode())
        try:
            self._authenticate(headers)
            try:
                result = self._execute(method, params, headers, body, record)
            except _ClickHouseError:
                raise
            except Exception as ex:  # noqa: BLE001 - a fixture bug must still answer the client
                logger.exception("chdb http fixture: unexpected failure")
                raise _ClickHouseError.fixture(STD_EXCEPTION, f"chdb HTTP test fixture failure: {ex!r}") from ex
        except _ClickHouseError as ex:
            record.exception_code = ex.code
            text = f"{ex.message} (version {self.engine_version or 'unknown'} (chdb http test fixture))\n"
            err_headers = {
                **base_headers,
                "X-ClickHouse-Exception-Code": str(ex.code),
                "Content-Type": "text/plain; charset=UTF-8",
            }
            return self._finish(record, _HTTP_STATUS_BY_CODE.get(ex.code, 500), err_headers, text.encode())
        out_headers = {
            **base_headers,
            "X-ClickHouse-Timezone": result.timezone,
            "X-ClickHouse-Summary": json.dumps(result.summary, separators=(",", ":")),
            "Content-Type": "application/octet-stream" if result.fmt else "text/plain; charset=UTF-8",
        }
        if result.fmt:
            out_headers["X-ClickHouse-Format"] = result.fmt
        return self._finish(record, 200, out_headers, result.body)

    def _finish(
        self, record: RequestRecord, status: int, headers: dict[str, str], payload: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        headers.setdefault("Keep-Alive", f"timeout={_Handler.timeout}")
        record.status = status
        self.requests.append(record)
        return status, headers, payload

    def _authenticate(self, headers: Message) -> None:
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise _ClickHouseError.fixture(
                AUTHENTICATION_FAILED, "the chdb HTTP test fixture takes Basic authentication only"
            )
        try:
            user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            raise _ClickHouseError.fixture(AUTHENTICATION_FAILED, "Malformed Basic authorization header") from None
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
        if method != "POST":
            raise _ClickHouseError.fixture(NOT_IMPLEMENTED, "the chdb HTTP test fixture takes queries by POST only")
        if headers.get("Content-Encoding", "identity").lower() != "identity" or params.get("compress", "0") != "0":
            raise _ClickHouseError.fixture(NOT_IMPLEMENTED, "the chdb HTTP test fixture takes no compressed bodies")
        content_type = headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            params, body = {**params, **_form_fields(content_type, body)}, b""
        query_param = params.get("query", "")
        record.query = _sql_for_log(query_param, body)
        sql = (query_param.encode("utf-8") + b"\n" + body) if query_param and body else (query_param.encode() or body)
        if not sql.strip():
            raise _ClickHouseError.fixture(SYNTAX_ERROR, "Empty query")
        session_id = record.session_id = params.get("session_id") or None
        if session_id is not None and _leading_keyword(sql) in ("SET", "USE"):
            raise _ClickHouseError.fixture(NOT_IMPLEMENTED, "the chdb HTTP test fixture keeps no session state")
        with self._session(session_id), _insert_data_as_file(sql) as statement:
            return self._execute_sql(params, statement, record)

    @contextlib.contextmanager
    def _session(self, session_id: str | None) -> Iterator[None]:
        """One request at a time per session, as a server allows."""
        if session_id is None:
            yield
            return
        with self._state_lock:
            if session_id in self._busy_sessions:
                raise _ClickHouseError.fixture(
                    SESSION_IS_LOCKED, f"Session {session_id} is locked by a concurrent client"
                )
            self._busy_sessions.add(session_id)
        try:
            yield
        finally:
            with self._state_lock:
                self._busy_sessions.discard(session_id)

    def _execute_sql(self, params: dict[str, str], sql: bytes, record: RequestRecord) -> _Result:
        bind_params = {k[len("param_") :]: v for k, v in params.items() if k.startswith("param_")}
        settings = {k: v for k, v in params.items() if k not in _TRANSPORT_PARAMS and not k.startswith("param_")}
        for name in settings:
            if not _SETTING_NAME_RE.match(name):
                raise _ClickHouseError.fixture(UNKNOWN_SETTING, f"Unknown setting '{name}'")
        record.settings = dict(settings)
        fmt = _output_format(sql, _leading_keyword(sql))
        with self._engine_lock:
            conn = self._connect()
            try:
                if database := params.get("database"):
                    self._query(conn, f"USE {_quote_identifier(database)}")
                if settings:
                    self._query(conn, "SET " + ", ".join(f"{k} = {_quote_literal(v)}" for k, v in settings.items()))
                result = self._query(conn, sql, bind_params)
            finally:
                conn.close()
        body_out = result.bytes() if result is not None else b""
        return _Result(
            body=body_out,
            fmt=fmt or ("TabSeparated" if body_out else None),
            summary=_summary(result),
            timezone=params.get("session_timezone") or self.server_timezone,
        )

    # ------------------------------------------------------------------ engine access

    def _connect(self) -> Any:
        if self._keeper is None:
            raise _ClickHouseError.fixture(STD_EXCEPTION, "The chdb HTTP test fixture is stopped")
        try:
            return chdb.connect(self.path)  # type: ignore[no-untyped-call]
        except Exception as ex:  # noqa: BLE001
            raise _ClickHouseError.from_engine(ex) from ex

    @staticmethod
    def _query(conn: Any, sql: str | bytes, params: dict[str, str] | None = None) -> Any:
        try:
            return conn.query(sql, "TabSeparated", params=params or {})
        except Exception as ex:  # noqa: BLE001 - every engine failure goes back to the client
            raise _ClickHouseError.from_engine(ex) from ex
