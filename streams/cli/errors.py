"""The command line's one error boundary: a failure ends as one or two plain lines and an exit code.

Every command runs inside :class:`ErrorBoundary`, so no command needs its own try/except. Known
error types are classified by :func:`describe_failure` (a pure function, tested case by case); the
traceback is written only with the global ``--debug`` flag, and to the log at DEBUG level.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from aiokafka.errors import KafkaError
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from pydantic import ValidationError
from typer._click.core import Context
from typer._click.exceptions import NoArgsIsHelpError
from typer.core import TyperGroup

from sinks.clickhouse.migrate import MigrationError
from sinks.clickhouse.warehouse import WarehouseInUseError
from streams.runtime.keys import PseudonymKeyMismatchError

log = logging.getLogger("seatmeter.cli")

EXIT_USER_ERROR = 1
EXIT_WAREHOUSE_IN_USE = 2
EXIT_KAFKA = 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a pipeline reader that stopped early
MAX_MESSAGE_CHARS = 300
_ENGINE_MESSAGE = re.compile(
    r"Code: (\d+)\. DB::Exception: (.*?)(?: \(version [^)]*(?:\)[^)]*)?\)|Stack trace|$)", re.S
)
_ERROR_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")
_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")
_NOISE = re.compile(r"\. In scope |\. Expected one of:| \(version ")
_MIGRATE_HINT = {"UNKNOWN_TABLE", "UNKNOWN_DATABASE"}


@dataclass(frozen=True, slots=True)
class Failure:
    """What the person at the terminal reads, and the exit code a script sees."""

    message: str
    exit_code: int = EXIT_USER_ERROR


def describe_failure(exc: BaseException) -> Failure:
    """The plain message for any exception a command lets escape; unknown ones are called a bug."""
    for kind, describe in _DESCRIBERS:
        if isinstance(exc, kind):
            return describe(exc)
    return Failure(
        f"unexpected {type(exc).__name__}: {_one_line(str(exc))}. This is a bug: rerun with "
        "`seatmeter --debug ...` and report the traceback."
    )


def _engine_error(exc: BaseException) -> Failure:
    """The engine's own message without the query echo, the version and the stack trace."""
    text = str(exc)
    match = _ENGINE_MESSAGE.search(text)
    body = match[2] if match else text
    name = _ERROR_NAME.search(body)
    core = _one_line(_NOISE.split(body)[0].rstrip(". "))
    message = f"{core} ({name[1]})" if name and name[1] not in core else core
    if name and name[1] in _MIGRATE_HINT:
        message += "; if this warehouse is new, run `seatmeter migrate` first"
    return Failure(f"warehouse: {message}")


def _unreachable_warehouse(exc: BaseException) -> Failure:
    reason = _ERRNO_REASON.search(str(exc))
    detail = reason[1].strip() if reason else _one_line(str(exc))
    return Failure(f"cannot reach the warehouse: {detail}. Check SEATMETER_WAREHOUSE__URL and that the server runs.")


def _invalid_values(exc: ValidationError) -> Failure:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    where = _setting_name(first["loc"]) if exc.title == "Settings" else ".".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    reason = str(first["msg"]).removeprefix("Value error, ")
    return Failure(f"invalid {where or exc.title}: {reason}{more}")


def _setting_name(location: tuple[int | str, ...]) -> str:
    """The environment variable a settings error is about, as people set it."""
    return "SEATMETER_" + "__".join(str(part).upper() for part in location)


def _os_error(exc: OSError) -> Failure:
    if exc.filename is not None:
        return Failure(f"{exc.filename}: {exc.strerror or _one_line(str(exc))}")
    return Failure(_one_line(str(exc)) or type(exc).__name__)


def _kafka_error(exc: BaseException) -> Failure:
    reason = _one_line(str(exc)) or type(exc).__name__
    return Failure(f"Kafka: {reason}. Check SEATMETER_KAFKA__BOOTSTRAP_SERVERS and the security settings.", EXIT_KAFKA)


def _plain(exit_code: int) -> Callable[[BaseException], Failure]:
    return lambda exc: Failure(str(exc).strip() or type(exc).__name__, exit_code)


_DESCRIBERS: tuple[tuple[type[BaseException], Callable[[Any], Failure]], ...] = (
    (WarehouseInUseError, _plain(EXIT_WAREHOUSE_IN_USE)),
    (MigrationError, _plain(EXIT_USER_ERROR)),
    (PseudonymKeyMismatchError, _plain(EXIT_WAREHOUSE_IN_USE)),
    (OperationalError, _unreachable_warehouse),
    (DatabaseError, _engine_error),
    (ValidationError, _invalid_values),
    (KafkaError, _kafka_error),
    (OSError, _os_error),
    (ValueError, _plain(EXIT_USER_ERROR)),
)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_MESSAGE_CHARS else flat[: MAX_MESSAGE_CHARS - 3] + "..."


class ErrorBoundary(TyperGroup):
    """The top-level command group: runs the command and turns what escapes into a plain message."""

    def make_context(self, *args: Any, **kwargs: Any) -> Context:
        try:
            return super().make_context(*args, **kwargs)
        except typer.TyperException as exc:
            _exit_with(exc)

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:
            _reader_went_away()
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            _exit_with(exc)


def _reader_went_away() -> NoReturn:
    """``seatmeter sql ... | head`` is no failure: exit as a Unix tool killed by SIGPIPE does,
    silently, with stdout pointed at /dev/null so the interpreter's last flush cannot fail too."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise typer.Exit(EXIT_BROKEN_PIPE)


def _exit_with(exc: Exception) -> NoReturn:
    if isinstance(exc, NoArgsIsHelpError):
        raise exc
    log.debug("command failed", exc_info=exc)
    if isinstance(exc, typer.TyperException):
        failure = Failure(_usage_message(exc), exc.exit_code)
    else:
        failure = describe_failure(exc)
    typer.echo(f"error: {failure.message}", err=True)
    raise typer.Exit(failure.exit_code) from None


def _usage_message(exc: typer.TyperException) -> str:
    context = getattr(exc, "ctx", None)
    hint = f" (see `{context.command_path} --help`)" if context is not None else ""
    return f"{_one_line(exc.format_message().replace('Value error, ', ''))}{hint}"
