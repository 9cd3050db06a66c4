"""Fingerprint stage: name an executable or a SaaS sign-in as a canonical licensable product.

Precedence — the first step that decides wins, and the result's ``rule`` names it:

1. ``override``          overrides.yaml by sha256, exact path, then path glob.
2. ``background``        background entries by file name, regex, bundle or path glob; and
   ``nested_helper``     macOS helpers nested in a bundle's Frameworks/Helpers/XPCServices.
3. ``product_name``      the version resource's product name when the publisher belongs to the
                         product's vendor (with no publisher, only if a path hint agrees);
                         helper-like file names under it become background of that product.
4. ``file_name``         original file name (exact, without extension, without a trailing
   ``bundle_name``       version), then the macOS bundle name of the bundle's main executable.
5. ``path``              product path globs.
6. ``saas_name``         sign-in app name (Okta app name, Entra display name), then URL host
   ``saas_url``          suffix, with its first path segment when the catalog gives one.
7. ``helper_heuristic``  updater/crash/helper/installer-like names, and files under OS folders
   ``os_component``      (Windows, /System, /usr/libexec, /usr/sbin): background.
8. ``unknown``           anything else, scored for shadow IT.

Publisher rules: a publisher that resolves to another catalog vendor vetoes a candidate (a
renamed or masquerading binary). An unrecognised publisher is accepted except in temporary or
download folders. With no publisher (normal on Linux, common for portable tools) file names are
trusted unless the product is ``strict`` (generic file names), which then needs a path hint.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import orjson
import yaml
from pydantic import BaseModel, ValidationError

from schemas.catalog import (
    BackgroundEntry,
    BackgroundFile,
    Catalog,
    CatalogHeader,
    Category,
    EditionRule,
    ExecutableIdentity,
    Fingerprint,
    LicenseModel,
    ObservedPlatform,
    OverrideFile,
    Product,
    ProductFile,
    SaasApp,
    SaasFile,
    VendorFile,
    VersionLabel,
    VersionScheme,
)

CATALOG_DIR = Path(__file__).resolve().parent.parent / "catalog"
SHADOW_IT_THRESHOLD = 0.5
_M = TypeVar("_M", bound=BaseModel)
_Key = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None]


class CatalogError(ValueError):
    """A catalog file is missing, is not YAML, or does not fit the schema."""


def load_catalog(source: Path | str | None = None) -> Catalog:
    """Load `catalog.yaml` (a file, or the directory holding it; default: the packaged one)."""
    header_path = Path(source) if source is not None else CATALOG_DIR
    if header_path.is_dir():
        header_path = header_path / "catalog.yaml"
    header = _read(header_path, CatalogHeader)
    base = header_path.parent
    try:
        return Catalog(
            version=header.version,
            neutral_publishers=header.neutral_publishers,
            suites=header.suites,
            version_schemes=header.version_schemes,
            vendors=tuple(v for f in header.vendors for v in _read(base / f, VendorFile).vendors),
            products=tuple(p for f in header.products for p in _read(base / f, ProductFile).products),
            background=tuple(b for f in header.background for b in _read(base / f, BackgroundFile).background),
            saas=tuple(s for f in header.saas for s in _read(base / f, SaasFile).saas),
            overrides=tuple(o for f in header.overrides for o in _read(base / f, OverrideFile).overrides),
        )
    except ValidationError as exc:
        raise CatalogError(f"{header_path}: {_describe(exc, None)}") from None


def _read(path: Path, model: type[_M]) -> _M:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_describe(exc, data)}") from None


def _describe(exc: ValidationError, data: object) -> str:
    """Name entries by id rather than list index, so a catalog author can find them."""
    parts = []
    for err in exc.errors()[:10]:
        loc = [str(x) for x in err["loc"]]
        if isinstance(data, dict) and len(loc) > 1 and loc[1].isdigit():
            entries = data.get(loc[0])
            if isinstance(entries, list) and int(loc[1]) < len(entries):
                entry = entries[int(loc[1])]
                loc[1] = f"{loc[1]}(id={entry.get('id')})" if isinstance(entry, dict) else loc[1]
        parts.append(f"{'.'.join(loc) or 'catalog'}: {err['msg']}")
    return "; ".join(parts)


# --- Normalisation -------------------------------------------------------------------------

_SIGNER_PREFIX = re.compile(
    r"^(?:developer id application|apple development|apple distribution|mac developer|"
    r"3rd party mac developer application)\s*:\s*",
    re.I,
)
_TEAM_ID = re.compile(r"\s*\([A-Z0-9]{10}\)\s*$")
_DN_CN = re.compile(r"(?:^|,)\s*(?:cn|o)\s*=\s*(\"[^\"]*\"|[^,]*)", re.I)
_LEGAL = frozenset(
    (
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "llc",
        "ltd",
        "limited",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "sarl",
        "bv",
        "nv",
        "oy",
        "oyj",
        "ab",
        "as",
        "asa",
        "aps",
        "kg",
        "plc",
        "pty",
        "pte",
        "srl",
        "sro",
        "spa",
        "kk",
        "ulc",
        "lp",
        "llp",
        "the",
    )
)
_EXTENSIONS = frozenset(("exe", "app", "bin", "sh", "bat", "cmd", "appimage"))
_TRAILING_VERSION = re.compile(
    r"(?:[\s._-]*(?:v?\d+(?:[._]\d+)*[a-z]?|r20\d\d[ab]|\(\d+\)|x64|x86|amd64|arm64|64-?bit|32-?bit))+$"
)
_MARKS = re.compile(r"\(r\)|\(tm\)|[®™©]")
_VERSION = re.compile(r"(\d+)(?:[.,](\d+))?")
_YEAR = re.compile(r"(?<![\w.])((?:19|20)\d\d)(?![\d])")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORDS = re.compile(r"[a-z0-9]+")
_HELPER_WORDS = frozenset(
    (
        "update",
        "updater",
        "updates",
        "autoupdate",
        "autoupdater",
        "crash",
        "crashpad",
        "crashreporter",
        "crashhandler",
        "reporter",
        "helper",
        "helpers",
        "uninstall",
        "uninstaller",
        "unins000",
        "setup",
        "installer",
        "bootstrapper",
        "service",
        "svc",
        "daemon",
        "agent",
        "notifier",
        "watchdog",
        "webhelper",
        "elevation",
        "broker",
        "tray",
    )
)
_RISKY = (
    "/downloads/",
    "/temp/",
    "/tmp/",  # noqa: S108 - path markers, nothing is written "/private/var/folders/", "/$recycle.bin/",
    "/inetcache/",
    "/content.outlook/",
    "/temporary internet files/",
)
_RISKY_RE = re.compile("|".join(re.escape(m) for m in _RISKY))
_OS_DIRS = (
    "/windows/",
    "/system/",
    "/usr/libexec/",
    "/usr/sbin/",
    "/sbin/",
    "/usr/lib/systemd/",
    "/lib/systemd/",
    "/library/apple/",
)
_NESTED = ("/frameworks/", "/helpers/", "/xpcservices/", "/loginitems/", "/plugins/")
_DRIVE = re.compile(r"^[a-z]:/")
_DIGIT = re.compile(r"\d")
_SLASHES = re.compile(r"/{2,}")


@functools.lru_cache(maxsize=4096)
def clean_publisher(raw: str) -> str:
    """A signer as people read it: no Apple certificate prefix, team id or X.500 noise."""
    text = _TEAM_ID.sub("", _SIGNER_PREFIX.sub("", raw.strip()))
    if "=" in text:
        found = _DN_CN.search(text)
        text = found.group(1).strip('" ') if found else text
    return text.strip()


@functools.lru_cache(maxsize=4096)
def publisher_key(raw: str) -> str:
    """Comparable publisher: ASCII, lower case, no legal suffixes ('Adobe Inc.' -> 'adobe')."""
    ascii_text = unicodedata.normalize("NFKD", clean_publisher(raw)).encode("ascii", "ignore")
    words = _WORDS.findall(ascii_text.decode().lower())
    return " ".join(w for w in words if w not in _LEGAL and len(w) > 1)


def _name_key(name: str) -> str:
    return " ".join(_WORDS.findall(_MARKS.sub("", name.lower())))


@functools.lru_cache(maxsize=4096)
def product_name_key(raw: str) -> str:
    """Version-resource product name without marks, architecture or trailing version/year."""
    text = _MARKS.sub("", raw.lower()).replace("(x64)", "").replace("(x86)", "")
    return " ".join(_TRAILING_VERSION.sub("", text.strip()).split())


@functools.lru_cache(maxsize=16_384)
def name_keys(name: str) -> tuple[str, ...]:
    """Lookup keys for a file or bundle name, most specific first."""
    stem, dot, ext = name.rpartition(".")
    keys = (name, stem) if dot and ext in _EXTENSIONS else (name,)
    if not _DIGIT.search(keys[-1], max(0, len(keys[-1]) - 8)):
        return keys
    stripped = _TRAILING_VERSION.sub("", keys[-1])
    return (*keys, stripped) if len(stripped) > 1 and stripped != keys[-1] else keys


# --- Index ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Glob:
    anchor: str
    regex: re.Pattern[str]
    target: int

    @classmethod
    def of(cls, pattern: str, target: int) -> _Glob:
        lowered = pattern.lower().replace("\\", "/")
        anchor = max(re.split(r"[*?\[\]]", lowered), key=len)
        return cls(anchor, re.compile(fnmatch.translate(lowered)), target)

    def hit(self, text: str) -> bool:
        return self.anchor in text and self.regex.match(text) is not None


@dataclass(frozen=True, slots=True)
class _Scheme:
    scheme: VersionScheme
    regex: re.Pattern[str] | None
    by_match: dict[tuple[str, str | None], VersionLabel]
    by_label: dict[str, VersionLabel]

    @classmethod
    def of(cls, scheme: VersionScheme) -> _Scheme:
        regex = re.compile(scheme.path_regex, re.I) if scheme.path_regex else None
        if regex is None and scheme.group_by == "year":
            regex = _YEAR
        return cls(
            scheme,
            regex,
            {(lab.match, lab.platform): lab for lab in scheme.labels},
            {lab.label.lower(): lab for lab in scheme.labels},
        )


@dataclass(frozen=True, slots=True, eq=False)
class _Index:
    catalog: Catalog
    as_of: date
    vendor_names: dict[str, str]
    vendor_by_key: dict[str, str]
    neutral: frozenset[str]
    by_exe: dict[str, tuple[int, ...]]
    by_bundle: dict[str, tuple[int, ...]]
    by_product_name: dict[str, tuple[int, ...]]
    exe_regexes: tuple[tuple[re.Pattern[str], int], ...]
    any_exe_regex: re.Pattern[str] | None
    product_globs: tuple[_Glob, ...]
    hints: tuple[tuple[str, ...], ...]
    extra_publishers: tuple[frozenset[str], ...]
    globs_of: tuple[tuple[_Glob, ...], ...]
    schemes: tuple[_Scheme | None, ...]
    bg_by_name: dict[str, int]
    bg_regexes: tuple[tuple[re.Pattern[str], int], ...]
    any_bg_regex: re.Pattern[str] | None
    bg_globs: tuple[_Glob, ...]
    saas_by_name: dict[str, int]
    saas_by_domain: dict[str, int]
    saas_globs: tuple[_Glob, ...]
    override_sha: dict[str, int]
    override_path: dict[str, int]
    override_globs: tuple[_Glob, ...]
    product_by_id: dict[str, int]


def _multi(pairs: Iterable[tuple[str, int]]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for key, target in pairs:
        if target not in out.get(key, ()):
            out[key] = (*out.get(key, ()), target)
    return out


def _any_of(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation to rule out every file-name regex in a single pass."""
    joined = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(joined, re.I) if joined else None


def _exe_keys(names: Iterable[str]) -> Iterator[str]:
    for name in names:
        yield from name_keys(name.lower())[:2]


def _build_index(catalog: Catalog, as_of: date) -> _Index:
    products = catalog.products
    vendor_by_key: dict[str, str] = {}
    for vendor in catalog.vendors:
        for alias in (vendor.name, vendor.id, *vendor.publishers):
            vendor_by_key.setdefault(publisher_key(alias), vendor.id)
    named = {k: _Scheme.of(v) for k, v in catalog.version_schemes.items()}
    globs_of = tuple(tuple(_Glob.of(g, i) for g in p.paths) for i, p in enumerate(products))
    background = catalog.background
    saas_names = ((_name_key(n), i) for i, s in enumerate(catalog.saas) for n in (s.name, *s.names))
    domains = [(d.lower(), i) for i, s in enumerate(catalog.saas) for d in s.domains]
    overrides = catalog.overrides
    return _Index(
        catalog=catalog,
        as_of=as_of,
        vendor_names={v.id: v.name for v in catalog.vendors},
        vendor_by_key=vendor_by_key,
        neutral=frozenset(publisher_key(n) for n in catalog.neutral_publishers),
        by_exe=_multi((k, i) for i, p in enumerate(products) for k in _exe_keys(p.exe)),
        by_bundle=_multi((k, i) for i, p in enumerate(products) for k in _exe_keys(p.bundle)),
        by_product_name=_multi((product_name_key(n), i) for i, p in enumerate(products) for n in p.product_names),
        exe_regexes=tuple((re.compile(r, re.I), i) for i, p in enumerate(products) for r in p.exe_regex),
        any_exe_regex=_any_of(r for p in products for r in p.exe_regex),
        product_globs=tuple(g for gs in globs_of for g in gs),
        hints=tuple(tuple(h.lower().replace("\\", "/") for h in p.hints) for p in products),
        extra_publishers=tuple(frozenset(publisher_key(x) for x in p.publishers) for p in products),
        globs_of=globs_of,
        schemes=tuple(
            named.get(p.versions) if isinstance(p.versions, str) else _Scheme.of(p.versions) if p.versions else None
            for p in products
        ),
        bg_by_name={k: i for i, b in reversed(list(enumerate(background))) for k in _exe_keys((*b.exe, *b.bundle))},
        bg_regexes=tuple((re.compile(r, re.I), i) for i, b in enumerate(background) for r in b.exe_regex),
        any_bg_regex=_any_of(r for b in background for r in b.exe_regex),
        bg_globs=tuple(_Glob.of(g, i) for i, b in enumerate(background) for g in b.paths),
        saas_by_name=dict(reversed(list(saas_names))),
        saas_by_domain={d: i for d, i in reversed(domains) if "*" not in d},
        saas_globs=tuple(_Glob.of(d, i) for d, i in domains if "*" in d),
        override_sha={o.sha256.lower(): i for i, o in enumerate(overrides) if o.sha256},
        override_path={_norm_path(_PROFILE.sub(r"\1~", o.path)): i for i, o in enumerate(overrides) if o.path},
        override_globs=tuple(_Glob.of(o.path_glob, i) for i, o in enumerate(overrides) if o.path_glob),
        product_by_id={p.id: i for i, p in enumerate(products)},
    )


# --- Observation ---------------------------------------------------------------------------


class _Notes:
    """Explanation steps, formatted only when asked for: most lookups never need them."""

    __slots__ = ("_lines",)

    def __init__(self, enabled: bool) -> None:
        self._lines: list[str] | None = [] if enabled else None

    def add(self, template: str, *args: object) -> None:
        if self._lines is not None:
            self._lines.append(template.format(*args) if args else template)

    def steps(self) -> tuple[str, ...]:
        return tuple(self._lines or ())


@dataclass(slots=True)
class _Obs:
    path: str
    name: str
    display_name: str
    keys: tuple[str, ...]
    bundle_keys: tuple[str, ...]
    nested: bool
    platform: ObservedPlatform
    publisher: str | None
    publisher_key: str
    vendor: str | None
    raw_path: str
    product_name: str | None
    product_key: str | None
    risky: bool
    portable: bool


def _norm_path(raw: str) -> str:
    """Lower case, forward slashes, no doubled separators (a leading // marks a UNC share)."""
    path = raw.strip().strip('"').replace("\\", "/").lower()
    path = path[4:] if path.startswith("//?/") else path
    if "//" not in path[1:]:
        return path
    return ("/" if path.startswith("//") else "") + _SLASHES.sub("/", path)


def _platform(path: str) -> ObservedPlatform:
    if _DRIVE.match(path) or path.startswith(("//", "/device/")) or path.endswith(".exe"):
        return "windows"
    if ".app/" in path or path.startswith(
        ("/applications/", "/system/", "/library/", "/users/", "/private/", "/opt/homebrew/")
    ):
        return "macos"
    return "linux" if path.startswith("/") else "unknown"


def _observe(ix: _Index, key: _Key) -> _Obs:
    exe_path, publisher, product_name = key[0], key[1], key[2]
    path = _norm_path(exe_path)
    display_name = exe_path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].strip().strip('"')
    name = display_name.lower()
    segments = path.split("/") if ".app/" in path else []
    apps = [i for i, s in enumerate(segments) if s.endswith(".app")]
    main_exe = bool(apps) and len(segments) == apps[0] + 4 and segments[apps[0] + 2] == "macos"
    rest = "/" + "/".join(segments[apps[0] + 1 :]) + "/" if apps else ""
    pub = clean_publisher(publisher) if publisher and publisher.strip() else None
    pkey = publisher_key(pub) if pub else ""
    if pkey in ix.neutral:
        pub, pkey = None, ""
    return _Obs(
        path=path,
        name=name,
        display_name=display_name,
        keys=name_keys(name),
        bundle_keys=name_keys(segments[apps[0]]) if main_exe else (),
        nested=bool(apps) and not main_exe and (len(apps) > 1 or any(n in rest for n in _NESTED)),
        platform=_platform(path),
        publisher=pub,
        publisher_key=pkey,
        vendor=_vendor_of(ix, pkey) if pkey else None,
        raw_path=exe_path.replace("\\", "/"),
        product_name=product_name.strip() if product_name and product_name.strip() else None,
        product_key=product_name_key(product_name) if product_name else None,
        risky=_RISKY_RE.search(path) is not None,
        portable="portable" in path,
    )


@functools.lru_cache(maxsize=4096)
def _vendor_of(ix: _Index, pkey: str) -> str | None:
    words = pkey.split()
    for end in range(len(words), 0, -1):
        found = ix.vendor_by_key.get(" ".join(words[:end]))
        if found:
            return found
    return None


# --- Stages --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Hit:
    rule: str
    category: Category
    product: Product | None = None
    name: str | None = None
    vendor: str | None = None
    serves: str | None = None
    license: LicenseModel | None = None
    suite: str | None = None


def _product_hit(ix: _Index, rule: str, product: Product, category: Category) -> _Hit:
    return _Hit(
        rule,
        category,
        product,
        product.name,
        ix.vendor_names[product.vendor],
        product.name if category == "background" else None,
    )


def _override(ix: _Index, obs: _Obs, sha256: str | None, notes: _Notes) -> _Hit | None:
    found = ix.override_sha.get(sha256.strip().lower()) if sha256 else None
    if found is None:
        found = ix.override_path.get(obs.path)
    if found is None:
        found = next((g.target for g in ix.override_globs if g.hit(obs.path)), None)
    if found is None:
        return None
    rule = ix.catalog.overrides[found]
    notes.add("override: {}", rule.reason)
    if rule.product is not None:
        product = ix.catalog.products[ix.product_by_id[rule.product]]
        return _product_hit(ix, "override", product, rule.category or "application")
    return _Hit("override", rule.category or "unknown", name=rule.name, vendor=rule.vendor)


def _background_hit(ix: _Index, entry: BackgroundEntry, obs: _Obs, rule: str) -> _Hit:
    vendor = ix.vendor_names.get(entry.vendor or obs.vendor or "", obs.publisher)
    serves = entry.serves and ix.catalog.products[ix.product_by_id[entry.serves]].name
    return _Hit(rule, "background", name=entry.name, vendor=vendor, serves=serves)


def _background(ix: _Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    found = next((ix.bg_by_name[k] for k in obs.keys if k in ix.bg_by_name), None)
    if found is not None:
        hints = ix.catalog.background[found].hints
        found = found if not hints or any(h.lower() in obs.path for h in hints) else None
    if found is None and ix.any_bg_regex and ix.any_bg_regex.match(obs.name):
        found = next((i for rx, i in ix.bg_regexes if rx.match(obs.name)), None)
    if found is None:
        found = next((g.target for g in ix.bg_globs if g.hit(obs.path)), None)
    if found is not None:
        entry = ix.catalog.background[found]
        notes.add("background: {} entry {}", entry.kind, entry.id)
        return _background_hit(ix, entry, obs, "background")
    if obs.nested:
        outer = obs.path.split(".app/", 1)[0].rsplit("/", 1)[-1]
        owner = _choose(ix, obs, ix.by_bundle.get(outer, ()), notes, corroborate=False)
        notes.add("background: helper nested inside {}.app", outer)
        if owner is not None:
            return _product_hit(ix, "nested_helper", owner, "background")
        vendor = ix.vendor_names.get(obs.vendor or "", obs.publisher)
        return _Hit("nested_helper", "background", name=obs.display_name, vendor=vendor)
    return None


def _hinted(ix: _Index, target: int, obs: _Obs) -> bool:
    return any(h in obs.path for h in ix.hints[target]) or any(g.hit(obs.path) for g in ix.globs_of[target])


def _agrees(ix: _Index, target: int, obs: _Obs) -> bool:
    if obs.vendor == ix.catalog.products[target].vendor:
        return True
    words = obs.publisher_key.split()
    extra = ix.extra_publishers[target]
    return bool(extra) and any(" ".join(words[:end]) in extra for end in range(len(words), 0, -1))


def _choose(ix: _Index, obs: _Obs, candidates: Iterable[int], notes: _Notes, *, corroborate: bool) -> Product | None:
    """Best candidate after publisher vetoes.

    Ranking: a matching path hint first, then a candidate without hints (the plain product)
    over one whose hints did not match, then publisher agreement, then catalog order.
    """
    best: Product | None = None
    best_score = -1
    for target in candidates:
        product = ix.catalog.products[target]
        agrees = _agrees(ix, target, obs)
        hinted = _hinted(ix, target, obs)
        if obs.publisher_key and not agrees and obs.vendor is not None:
            notes.add("{}: vetoed, publisher is {} not {}", product.id, obs.vendor, product.vendor)
            continue
        if obs.publisher_key and not agrees and obs.risky and not hinted:
            notes.add("{}: vetoed, unrecognised publisher in a download/temp path", product.id)
            continue
        if (product.strict or corroborate) and not (agrees or hinted):
            notes.add("{}: needs its publisher or a path hint", product.id)
            continue
        score = (4 if hinted else 0 if ix.hints[target] else 2) + agrees
        if score > best_score:
            best, best_score = product, score
    return best


def _helper_like(display_name: str) -> bool:
    stem = display_name.rsplit(".", 1)[0] if "." in display_name else display_name
    return any(w in _HELPER_WORDS for w in _WORDS.findall(_CAMEL.sub(" ", stem).lower()))


def _by_product_name(ix: _Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    if not obs.product_key or obs.product_key not in ix.by_product_name:
        return None
    cands = ix.by_product_name[obs.product_key]
    product = _choose(ix, obs, cands, notes, corroborate=obs.publisher is None)
    if product is None:
        return None
    notes.add("product name {!r} -> {}", obs.product_name, product.id)
    listed = any(k in ix.by_exe and ix.product_by_id[product.id] in ix.by_exe[k] for k in obs.keys)
    if not listed and _helper_like(obs.display_name):
        notes.add("{} is not a listed executable and looks like a helper", obs.display_name)
        return _product_hit(ix, "product_name", product, "background")
    return _product_hit(ix, "product_name", product, "application")


def _by_file_name(ix: _Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    for rule, keys, index in (("file_name", obs.keys, ix.by_exe), ("bundle_name", obs.bundle_keys, ix.by_bundle)):
        for key in keys:
            if key in index:
                product = _choose(ix, obs, index[key], notes, corroborate=False)
                if product is not None:
                    notes.add("{} {!r} -> {}", rule, key, product.id)
                    return _product_hit(ix, rule, product, "application")
    matched = []
    if ix.any_exe_regex and ix.any_exe_regex.match(obs.name):
        matched = [i for rx, i in ix.exe_regexes if rx.match(obs.name)]
    product = _choose(ix, obs, matched, notes, corroborate=False) if matched else None
    if product is not None:
        notes.add("file name pattern {!r} -> {}", obs.name, product.id)
        return _product_hit(ix, "file_name", product, "application")
    return None


def _by_path(ix: _Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    matched = [g.target for g in ix.product_globs if g.hit(obs.path)]
    product = _choose(ix, obs, matched, notes, corroborate=False) if matched else None
    if product is not None:
        notes.add("path glob -> {}", product.id)
        return _product_hit(ix, "path", product, "application")
    return None


def _heuristic(ix: _Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    if obs.risky or obs.portable:
        return None
    vendor = ix.vendor_names.get(obs.vendor or "", obs.publisher)
    if _helper_like(obs.display_name):
        notes.add("{} looks like an updater, helper, service or installer", obs.display_name)
        return _Hit("helper_heuristic", "background", name=obs.product_name, vendor=vendor)
    if any(obs.path.find(d) in (0, 2) for d in _OS_DIRS):
        notes.add("file lives in an operating-system folder")
        default = {"windows": "Microsoft", "macos": "Apple"}.get(obs.platform)
        return _Hit("os_component", "background", name=obs.product_name, vendor=vendor or default)
    return None


def _shadow_score(obs: _Obs, notes: _Notes) -> float:
    """Unknown software looks unmanaged when unsigned, in user-writable, temp or portable spots."""
    score = 0.0
    if obs.publisher is None:
        score += 0.15 if obs.platform == "linux" else 0.3
        notes.add("no publisher")
    elif obs.vendor is None:
        score += 0.1
        notes.add("publisher {!r} is not a catalog vendor", obs.publisher)
    if obs.risky:
        score += 0.5
        notes.add("runs from a download or temporary folder")
    elif obs.portable:
        score += 0.4
        notes.add("portable-app folder")
    elif obs.path.startswith(("/users/", "/home/")) or "/users/" in obs.path[:10]:
        score += 0.2
        notes.add("user-writable folder")
    if obs.path.startswith("//") or (_DRIVE.match(obs.path) and not obs.path.startswith("c:")):
        score += 0.2
        notes.add("removable drive or network share")
    return round(min(score, 1.0), 2)


# --- Versions, editions, SaaS --------------------------------------------------------------


def _version_group(
    scheme: _Scheme, version: str | None, obs: _Obs, notes: _Notes
) -> tuple[str | None, VersionLabel | None]:
    """Labels from the file version win; then the path (years, Office16, R2023b); then raw."""
    if scheme.scheme.group_by == "none":
        return None, None
    parsed = _VERSION.search(version) if version else None
    major, minor = (parsed.group(1), parsed.group(2)) if parsed else ("", None)
    platform = obs.platform if obs.platform in ("windows", "macos", "linux") else None
    for match in ((f"{major}.{minor}",) if minor else ()) + (major,):
        label = scheme.by_match.get((match, platform)) or scheme.by_match.get((match, None))
        if label is not None:
            notes.add("version {} -> {}", version, label.label)
            return label.label, label
    found = scheme.regex.search(f"{obs.raw_path} {obs.product_name or ''}") if scheme.regex else None
    if found:
        text = found.group(1)
        label = scheme.by_match.get((text, platform)) or scheme.by_match.get((text, None))
        label = label or scheme.by_label.get(text.lower())
        notes.add("version group from path or name: {}", text)
        return (label.label, label) if label else (text, None)
    if not parsed:
        return None, None
    if scheme.scheme.group_by == "major_minor" and minor is not None:
        return f"{major}.{minor}", None
    return major, None


def _edition(product: Product, obs: _Obs, notes: _Notes) -> EditionRule | None:
    pname = (obs.product_name or "").lower()
    for rule in product.editions:
        if (
            obs.name in rule.exe
            or any(p in obs.path for p in rule.path)
            or (pname and any(p in pname for p in rule.product_name))
        ):
            notes.add("edition {}", rule.name)
            return rule
    return None


def _finish(ix: _Index, obs: _Obs, hit: _Hit | None, version: str | None, notes: _Notes) -> Fingerprint:
    product = hit.product if hit and hit.category == "application" else None
    group, label, edition = None, None, None
    if product is not None:
        scheme = ix.schemes[ix.product_by_id[product.id]]
        group, label = _version_group(scheme, version, obs, notes) if scheme else (None, None)
        edition = _edition(product, obs, notes)
    eol_date = (label and label.eol) or (edition and edition.eol) or (product and product.eol) or None
    category: Category = hit.category if hit else "unknown"
    score = _shadow_score(obs, notes) if category == "unknown" else 0.0
    if hit is None:
        notes.add("no rule matched")
    return Fingerprint.model_validate(
        {
            "catalog_version": ix.catalog.version,
            "product": hit.name if hit else None,
            "product_id": hit.product.id if hit and hit.product else None,
            "vendor": hit.vendor if hit else obs.publisher,
            "category": category,
            "suite": (edition and edition.suite) or (label and label.suite) or (product and product.suite) or None,
            "edition": edition.name if edition else product.default_edition if product else None,
            "version": version.strip() if version and version.strip() else None,
            "version_group": group,
            "license_model": (edition and edition.license)
            or (label and label.license)
            or (product and product.license)
            or None,
            "eol": eol_date is not None and eol_date <= ix.as_of,
            "eol_date": eol_date,
            "shadow_it": score >= SHADOW_IT_THRESHOLD,
            "shadow_it_score": score,
            "platform": obs.platform,
            "serves": hit.serves if hit else None,
            "rule": hit.rule if hit else "unknown",
            "explain": notes.steps(),
        }
    )


def _host_and_segment(url: str) -> tuple[str, str]:
    text = url.strip().lower()
    try:
        parts = urlsplit(text if "//" in text else "//" + text)
        host = (parts.hostname or "").removeprefix("www.")
    except ValueError:
        return "", ""
    return host, parts.path.strip("/").split("/", 1)[0]


def _saas(ix: _Index, app: str | None, url: str | None, notes: _Notes) -> Fingerprint:
    found, rule = None, "unknown"
    if app and app.strip():
        key = _name_key(app)
        found = ix.saas_by_name.get(key, ix.saas_by_name.get(key.replace(" ", "")))
        rule = "saas_name"
        notes.add("sign-in app {!r}: {}", app, "found" if found is not None else "not in catalog")
    if found is None and url and url.strip():
        host, segment = _host_and_segment(url)
        found = next((g.target for g in ix.saas_globs if host and g.hit(host)), None)
        labels = host.split(".")
        for start in range(len(labels) - 1):
            if found is not None:
                break
            suffix = ".".join(labels[start:])
            found = ix.saas_by_domain.get(f"{suffix}/{segment}", ix.saas_by_domain.get(suffix))
        rule = "saas_url"
        notes.add("URL host {!r}: {}", host, "found" if found is not None else "not in catalog")
    if found is None:
        score = 0.5 if not (app and app.strip()) else 0.0
        if score:
            notes.add("web app seen only by URL, not registered with the identity provider")
        return _saas_result(ix, None, "unknown", score, notes.steps())
    return _saas_result(ix, ix.catalog.saas[found], rule, 0.0, notes.steps())


def _saas_result(ix: _Index, app: SaasApp | None, rule: str, score: float, notes: tuple[str, ...]) -> Fingerprint:
    return Fingerprint.model_validate(
        {
            "catalog_version": ix.catalog.version,
            "product": app.name if app else None,
            "product_id": app.id if app else None,
            "vendor": ix.vendor_names[app.vendor] if app else None,
            "category": app.category if app else "unknown",
            "suite": app.suite if app else None,
            "edition": None,
            "version": None,
            "version_group": None,
            "license_model": app.license if app and app.category == "application" else None,
            "eol": False,
            "eol_date": None,
            "shadow_it": score >= SHADOW_IT_THRESHOLD,
            "shadow_it_score": score,
            "platform": "saas",
            "serves": None,
            "rule": rule,
            "explain": notes,
        }
    )


# --- Public API ----------------------------------------------------------------------------


def _match(ix: _Index, key: _Key, explain: bool) -> Fingerprint:
    exe_path, _, _, version, sha256, saas_app, url = key
    notes = _Notes(explain)
    has_saas = bool((saas_app and saas_app.strip()) or (url and url.strip()))
    if not exe_path.strip() and has_saas:
        return _saas(ix, saas_app, url, notes)
    obs = _observe(ix, key)
    notes.add("{} path, file {!r}, publisher {!r} -> vendor {}", obs.platform, obs.name, obs.publisher, obs.vendor)
    hit = (
        _override(ix, obs, sha256, notes)
        or _background(ix, obs, notes)
        or _by_product_name(ix, obs, notes)
        or _by_file_name(ix, obs, notes)
        or _by_path(ix, obs, notes)
    )
    if hit is None and has_saas:
        return _saas(ix, saas_app, url, notes)
    return _finish(ix, obs, hit or _heuristic(ix, obs, notes), version, notes)


_PROFILE = re.compile(r"^((?:[a-z]:)?[\\/](?:users|home|documents and settings)[\\/])[^\\/]+", re.I)


def _without_profile(key: _Key) -> _Key:
    """The same install in another user's profile is the same product: key it once."""
    return (_PROFILE.sub(r"\1~", key[0]), *key[1:])  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Matcher:
    """A compiled catalog with its caches; build once per catalog, share across lookups."""

    catalog: Catalog
    lookup: Callable[[_Key, bool], Fingerprint]


def build_matcher(catalog: Catalog, *, as_of: date | None = None, cache_size: int = 65_536) -> Matcher:
    """Precompile indexes once; `as_of` fixes the day end-of-life is judged against.

    Two bounded LRU caches sit in front of the rules: one on the identity as given, one on the
    identity with the user-profile folder masked, so a known install seen under a new user's
    profile costs a regex, not a full match.
    """
    index = _build_index(catalog, as_of or date.today())
    by_masked = functools.lru_cache(maxsize=cache_size)(functools.partial(_match, index))

    def _by_raw(key: _Key, explain: bool) -> Fingerprint:
        return by_masked(_without_profile(key), explain)

    return Matcher(catalog, functools.lru_cache(maxsize=cache_size)(_by_raw))


def fingerprint(matcher: Matcher, identity: ExecutableIdentity, *, explain: bool = False) -> Fingerprint:
    """Classify one observation; with `explain`, the result lists the reasoning steps."""
    key = (
        identity.exe_path,
        identity.publisher,
        identity.product_name,
        identity.version,
        identity.sha256,
        identity.saas_app,
        identity.url,
    )
    return matcher.lookup(key, explain)


def fingerprint_lines(matcher: Matcher, lines: Iterable[bytes | str], *, explain: bool = False) -> Iterator[bytes]:
    """JSON lines in, one JSON line out per non-blank input (an `error` object if unreadable)."""
    exclude = None if explain else {"explain"}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            identity = ExecutableIdentity.model_validate(orjson.loads(line))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            yield orjson.dumps({"error": str(exc).splitlines()[0], "line": number})
            continue
        result = fingerprint(matcher, identity, explain=explain)
        yield orjson.dumps(result.model_dump(mode="json", exclude=exclude))
