"""Entitlements and the directory from the spreadsheets and files teams keep them in, as Kafka messages.

``read_entitlements`` and ``read_directory`` read CSV (a header row of the documented column names;
list cells separated by ``;``; cost centre allocations as ``CC100:0.6;CC200:0.4``), YAML or JSON (a list
of mappings in the wire format). Every problem in a file is reported at once, each with the file, line,
row and field; values are never repeated in messages, because directory files hold identities.

``to_messages`` turns the records into (key, value) pairs for the compacted topics. By default directory
records are pseudonymized here, before they leave the importer, so that raw names never reach Kafka, its
replicas, its backups or anyone who can read the topic; the worker, which must share the key, checks
and keeps the pseudonyms it receives. ``send_raw_identities`` is the explicit opt-out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson
import yaml
from pydantic import BaseModel, ValidationError

from schemas.reference import DirectoryRecord, Entitlement
from streams.pipeline.admit.pseudonymize import PseudonymKey, canonical_identity, pseudonymize
from streams.pipeline.decode.opening import safe_location_part
from streams.pipeline.decode.reference import pseudonymize_directory_record

M = TypeVar("M", bound=BaseModel)
LIST_SEPARATOR = ";"
SHARE_SEPARATOR = ":"
MAX_REPORTED_PROBLEMS = 50
YAML_SUFFIXES = frozenset({".yaml", ".yml"})


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One thing wrong with an input file: where (line, 1-based row or list item, field) and which rule."""

    path: str
    message: str
    line: int | None = None
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [self.path]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}"


class ReferenceImportError(ValueError):
    """A file that cannot be imported, with every problem found in it."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems = tuple(problems)
        lines = [str(problem) for problem in self.problems[:MAX_REPORTED_PROBLEMS]]
        if len(self.problems) > MAX_REPORTED_PROBLEMS:
            lines.append(f"and {len(self.problems) - MAX_REPORTED_PROBLEMS} more")
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class Layout(Generic[M]):
    """How one kind of record is spelt in a CSV file, and what makes two records the same."""

    model: type[M]
    identities: Callable[[M], list[str]]
    id_field: str
    duplicate: str  # the problem when two rows name one record, with {row} and {where}
    required: frozenset[str]
    list_columns: frozenset[str] = frozenset()
    allocation_columns: frozenset[str] = frozenset()

    @property
    def columns(self) -> frozenset[str]:
        """CSV columns are the model's fields; the pseudonym stamp is for the wire only."""
        return frozenset(self.model.model_fields) - {"pseudonymized_with"}


@dataclass(frozen=True, slots=True)
class RawRow:
    """One record as read, before validation: where it came from, and what was wrong before validation."""

    data: dict[str, Any]
    row: int
    line: int | None = None
    field_lines: dict[str, int] = field(default_factory=dict)
    problems: tuple[tuple[str | None, str], ...] = ()  # (field, message)


ENTITLEMENT_LAYOUT = Layout(
    model=Entitlement,
    identities=lambda pool: [pool.pool_id],
    id_field="pool_id",
    duplicate="the same pool_id as row {row}{where}",
    required=frozenset({"pool_id", "name", "license_model", "seats", "unit_cost", "currency"}),
    list_columns=frozenset({"products", "suites"}),
    allocation_columns=frozenset({"cost_centres"}),
)
DIRECTORY_LAYOUT = Layout(
    model=DirectoryRecord,
    identities=lambda person: [canonical_identity(name) for name in (person.user, *person.aliases)],
    id_field="user",
    duplicate="a user or alias of row {row}{where} as well: one person per row",
    required=frozenset({"user"}),
    list_columns=frozenset({"aliases"}),
)


def read_entitlements(path: str | Path) -> list[Entitlement]:
    """License pools from a CSV, YAML or JSON file; raises :class:`ReferenceImportError` naming every problem."""
    return read_records(Path(path), ENTITLEMENT_LAYOUT)


def read_directory(path: str | Path) -> list[DirectoryRecord]:
    """People from a CSV, YAML or JSON file; raises :class:`ReferenceImportError` naming every problem."""
    return read_records(Path(path), DIRECTORY_LAYOUT)


def read_records(path: Path, layout: Layout[M]) -> list[M]:
    """Validate every row; refuse the whole file if any row is bad or two rows are the same record."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problem = ImportProblem(str(path), f"cannot be read as UTF-8 text: {type(exc).__name__}")
        raise ReferenceImportError([problem]) from None
    rows = _parse(str(path), text, path.suffix.lower(), layout)
    records: list[M] = []
    problems: list[ImportProblem] = []
    seen: dict[str, RawRow] = {}
    for raw in rows:
        raw = _without_wire_only_fields(raw, layout)
        if raw.problems:
            problems += [_problem(str(path), raw, name, message) for name, message in raw.problems]
            continue
        try:
            record = layout.model.model_validate(raw.data)
        except ValidationError as exc:
            problems += _validation_problems(str(path), raw, exc)
            continue
        problems += _duplicates(str(path), raw, layout, layout.identities(record), seen)
        records.append(record)
    if problems:
        raise ReferenceImportError(problems)
    return records


def _without_wire_only_fields(raw: RawRow, layout: Layout[M]) -> RawRow:
    """Input files hold records as people keep them: fields that only Seatmeter sets are refused."""
    wire_only = sorted(raw.data.keys() & (layout.model.model_fields.keys() - layout.columns))
    if not wire_only:
        return raw
    problems = tuple((name, "set by Seatmeter, not by input files") for name in wire_only)
    return RawRow(raw.data, raw.row, raw.line, raw.field_lines, raw.problems + problems)


def _duplicates(
    path: str, raw: RawRow, layout: Layout[M], identities: list[str], seen: dict[str, RawRow]
) -> list[ImportProblem]:
    """Two rows for one pool or person would overwrite each other on the compacted topic: refuse the file."""
    earlier = {
        seen[identity].row: seen[identity] for identity in identities if identity in seen and seen[identity] is not raw
    }
    for identity in identities:
        seen.setdefault(identity, raw)
    messages = [
        layout.duplicate.format(row=row.row, where=f" (line {row.line})" if row.line else "")
        for row in earlier.values()
    ]
    return [_problem(path, raw, layout.id_field, message) for message in messages]


def to_messages(
    records: Sequence[Entitlement] | Sequence[DirectoryRecord],
    key: PseudonymKey | None = None,
    *,
    send_raw_identities: bool = False,
    keep_display_name: bool = False,
) -> list[tuple[bytes, bytes]]:
    """(Kafka key, JSON value) pairs: pools for ``seatmeter.entitlements`` keyed by ``pool_id``; people for
    ``seatmeter.directory`` keyed by the pseudonym of ``user`` (made with ``key``, which people need).

    People are sent pseudonymized and without ``display_name`` by default. ``keep_display_name`` sends
    the display name (only when raw names may be stored); ``send_raw_identities`` sends each record as
    read and leaves pseudonymizing to the worker, so raw identities are stored in Kafka.
    """
    messages: list[tuple[bytes, bytes]] = []
    for record in records:
        if isinstance(record, Entitlement):
            messages.append((record.pool_id.encode(), _json(record)))
            continue
        if key is None:
            raise ValueError("directory records need the pseudonym key: it makes their message keys")
        if record.pseudonymized_with is not None:
            raise ValueError("directory records must arrive here with raw identities, as read from a file")
        message_key = pseudonymize(record.user, key).encode()
        if send_raw_identities:
            value = record if keep_display_name else record.model_copy(update={"display_name": None})
        else:
            value = pseudonymize_directory_record(record, key, keep_display_name=keep_display_name)
        messages.append((message_key, _json(value)))
    return messages


def _json(record: BaseModel) -> bytes:
    return record.model_dump_json(exclude_none=True).encode()


# --- parsing ---------------------------------------------------------------------------------------------------------


def _parse(path: str, text: str, suffix: str, layout: Layout[Any]) -> list[RawRow]:
    if suffix == ".csv":
        return _csv_rows(path, text, layout)
    if suffix in YAML_SUFFIXES:
        return _yaml_rows(path, text)
    if suffix == ".json":
        return _json_rows(path, text)
    raise ReferenceImportError([ImportProblem(path, "unknown file type: expected .csv, .yaml, .yml or .json")])


def _csv_rows(path: str, text: str, layout: Layout[Any]) -> list[RawRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    columns = [name.strip().lower() for name in header]
    _check_header(path, header, columns, layout)
    rows: list[RawRow] = []
    for cells in reader:
        if any(cell.strip() for cell in cells):
            data, problems = _cells(columns, cells, layout)
            rows.append(RawRow(data, row=len(rows) + 1, line=reader.line_num, problems=tuple(problems)))
    return rows


def _cells(
    columns: list[str], cells: list[str], layout: Layout[Any]
) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
    """A CSV row's non-empty cells as wire values (an empty cell means absent), and what was wrong with them."""
    if len(cells) > len(columns):
        return {}, [(None, f"{len(cells)} cells, but the header names {len(columns)} columns")]
    data: dict[str, Any] = {}
    problems: list[tuple[str | None, str]] = []
    for column, cell in zip(columns, cells, strict=False):
        value = _cell_value(column, cell.strip(), layout)
        if isinstance(value, CellProblem):
            problems.append((column or None, value.message))
        elif value is not None:
            data[column] = value
    return data, problems


def _check_header(path: str, header: list[str], columns: list[str], layout: Layout[Any]) -> None:
    """Column names are checked once, here, so that a misspelt one is one problem rather than one per row."""
    if len(header) == 1 and LIST_SEPARATOR in header[0]:
        message = "columns must be separated by ',' (';' separates the items of a list inside a cell)"
        raise ReferenceImportError([ImportProblem(path, message, line=1)])
    if not set(columns) & layout.columns:
        expected = ", ".join(sorted(layout.required))
        message = f"no known column names: the first row must be the header (with at least {expected})"
        raise ReferenceImportError([ImportProblem(path, message, line=1)])
    unknown = [(i, name) for i, name in enumerate(columns) if name and name not in layout.columns]
    problems = [ImportProblem(path, "unknown column", line=1, field=_column(i, name)) for i, name in unknown]
    problems += [
        ImportProblem(path, "column named twice", line=1, field=name)
        for name in sorted({name for name in columns if name and columns.count(name) > 1})
    ]
    missing = sorted(layout.required - set(columns))
    problems += [ImportProblem(path, "required column missing", line=1, field=name) for name in missing]
    if problems:
        raise ReferenceImportError(problems)


def _column(index: int, name: str) -> str:
    """A column's name when it looks like one; otherwise its position, since it may be data (a missing header)."""
    return safe_location_part(name) if safe_location_part(name) == name else f"column {index + 1}"


@dataclass(frozen=True, slots=True)
class CellProblem:
    message: str


def _cell_value(column: str, cell: str, layout: Layout[Any]) -> Any:
    """The wire value of one cell: None when empty, a list for list columns, allocations for cost centres."""
    if not cell:
        return None
    if not column:
        return CellProblem("a value under a column without a name")
    if column in layout.list_columns:
        return _split(cell)
    if column not in layout.allocation_columns:
        return cell
    shares = [item.rpartition(SHARE_SEPARATOR) for item in _split(cell)]
    if any(not name.strip() or not share.strip() for name, _, share in shares):
        return CellProblem("expected COST_CENTRE:SHARE pairs separated by ';', e.g. CC100:0.6;CC200:0.4")
    return [{"cost_centre": name.strip(), "share": share.strip()} for name, _, share in shares]


def _split(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]


def _yaml_rows(path: str, text: str) -> list[RawRow]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader builds plain values only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "malformed"
        raise ReferenceImportError(
            [ImportProblem(path, f"not valid YAML: {problem}", line=mark.line + 1 if mark else None)]
        ) from None
    if data is None:
        return []
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        raise ReferenceImportError([ImportProblem(path, "expected a list of mappings", line=1)])
    rows = _items(data, [_node_lines(node) for node in root.value])
    return [_with_repeated_keys(row, node) for row, node in zip(rows, root.value, strict=True)]


def _node_lines(node: yaml.Node) -> tuple[int, dict[str, int]]:
    """The line an item starts on, and the line of each of its keys (1-based)."""
    fields: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        fields = {str(name.value): name.start_mark.line + 1 for name, _ in node.value}
    return node.start_mark.line + 1, fields


def _with_repeated_keys(raw: RawRow, node: yaml.Node) -> RawRow:
    """YAML keeps the last of two equal keys without a word; a field given twice is a mistake to report."""
    names = [str(name.value) for name, _ in node.value] if isinstance(node, yaml.MappingNode) else []
    repeated = sorted({name for name in names if names.count(name) > 1})
    if not repeated:
        return raw
    problems = tuple((name, "field given twice") for name in repeated)
    return RawRow(raw.data, raw.row, raw.line, raw.field_lines, raw.problems + problems)


def _json_rows(path: str, text: str) -> list[RawRow]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ReferenceImportError([ImportProblem(path, "not valid JSON", line=exc.lineno)]) from None
    if not isinstance(data, list):
        raise ReferenceImportError([ImportProblem(path, "expected a JSON array of objects")])
    return _items(data, None)


def _items(data: list[Any], lines: list[tuple[int, dict[str, int]]] | None) -> list[RawRow]:
    rows = []
    for index, item in enumerate(data):
        line, fields = lines[index] if lines else (None, {})
        if isinstance(item, dict):
            rows.append(RawRow(item, row=index + 1, line=line, field_lines=fields))
        else:
            problem = (None, "expected a mapping of field names to values")
            rows.append(RawRow({}, row=index + 1, line=line, problems=(problem,)))
    return rows


def _validation_problems(path: str, raw: RawRow, error: ValidationError) -> list[ImportProblem]:
    """One problem per broken rule, at the line of its field when the file says where that is."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        location = item["loc"]
        detail = ".".join(safe_location_part(part) for part in location[1:])
        message = f"{detail}: {item['msg']}" if detail else item["msg"]
        problem = _problem(path, raw, str(location[0]) if location else None, message)
        problems.append(problem)
    return problems


def _problem(path: str, raw: RawRow, field_name: str | None, message: str) -> ImportProblem:
    """A problem at the field's own line when known; a field name the file made up is withheld."""
    line = raw.field_lines.get(field_name, raw.line) if field_name else raw.line
    shown = safe_location_part(field_name) if field_name else None
    return ImportProblem(path, message, line=line, row=raw.row, field=shown)
