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
            background=tuple(
                b for f in header.background for b in _read(base / f, BackgroundFile).background
            ),
            saas=tuple(s for f in header.saas for s in _read(base / f, SaasFile).saas),
            overrides=tuple(
                o for f in header.overrides for o in _read(base / f, OverrideFile).overrides
            ),
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
    "inc incorporated corp corporation co company llc ltd limited gmbh ag sa sas sarl bv nv oy "
    "oyj ab as asa aps kg plc pty pte srl sro spa kk ulc lp llp the".split()
)
_EXTENSIONS = (".exe", ".app", ".bin", ".sh", ".bat", ".cmd", ".appimage")
_TRAILING_VERSION = re.compile(
    r"[\s._-]*(?:v?\d+(?:[._]\d+)*[a-z]?|\(\d+\)|x64|x86|amd64|arm64|64-?bit|32-?bit)$"
)
_MARKS = re.compile(r"\(r\)|\(tm\)|[®™©]")
_VERSION = re.compile(r"(\d+)(?:[.,](\d+))?")
_YEAR = re.compile(r"(?<![\w.])((?:19|20)\d\d)(?![\d])")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORDS = re.compile(r"[a-z0-9]+")
_HELPER_WORDS = frozenset(
    "update updater updates autoupdate autoupdater crash crashpad crashreporter crashhandler "
    "reporter helper helpers uninstall uninstaller unins000 setup installer bootstrapper service "
    "svc daemon agent notifier watchdog webhelper elevation broker tray launcherhelper".split()
)
_RISKY = ("/downloads/", "/temp/", "/tmp/", "/private/var/folders/", "/$recycle.bin/",
          "/inetcache/", "/content.outlook/", "/temporary internet files/")
_OS_DIRS = ("/windows/", "/system/", "/usr/libexec/", "/usr/sbin/", "/sbin/", "/usr/lib/systemd/",
            "/lib/systemd/", "/library/apple/")
_NESTED = ("/frameworks/", "/helpers/", "/xpcservices/", "/loginitems/", "/plugins/")
_DRIVE = re.compile(r"^[a-z]:/")


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
    previous = None
    while previous != text:
        previous, text = text, _TRAILING_VERSION.sub("", text.strip())
    return " ".join(text.split())


def name_keys(name: str) -> tuple[str, ...]:
    """Lookup keys for a file or bundle name, most specific first."""
    keys = [name]
    stem = name
    for ext in _EXTENSIONS:
        if name.endswith(ext):
            stem = name[: -len(ext)]
            keys.append(stem)
            break
    stripped = stem
    for _ in range(3):
        stripped = _TRAILING_VERSION.sub("", stripped)
    if len(stripped) > 1 and stripped != stem:
        keys.append(stripped)
    return tuple(keys)


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


@dataclass(frozen=True, slots=True)
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
    product_globs: tuple[_Glob, ...]
    hints: tuple[tuple[str, ...], ...]
    globs_of: tuple[tuple[_Glob, ...], ...]
    schemes: tuple[_Scheme | None, ...]
    bg_by_name: dict[str, int]
    bg_regexes: tuple[tuple[re.Pattern[str], int], ...]
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
        by_product_name=_multi(
            (product_name_key(n), i) for i, p in enumerate(products) for n in p.product_names
        ),
        exe_regexes=tuple(
            (re.compile(r, re.I), i) for i, p in enumerate(products) for r in p.exe_regex
        ),
        product_globs=tuple(g for gs in globs_of for g in gs),
        hints=tuple(tuple(h.lower().replace("\\", "/") for h in p.hints) for p in products),
        globs_of=globs_of,
        schemes=tuple(
            named.get(p.versions) if isinstance(p.versions, str)
            else _Scheme.of(p.versions) if p.versions else None
            for p in products
        ),
        bg_by_name={k: i for i, b in reversed(list(enumerate(background)))
                    for k in _exe_keys((*b.exe, *b.bundle))},
        bg_regexes=tuple(
            (re.compile(r, re.I), i) for i, b in enumerate(background) for r in b.exe_regex
        ),
        bg_globs=tuple(_Glob.of(g, i) for i, b in enumerate(background) for g in b.paths),
        saas_by_name={k: i for k, i in reversed(list(saas_names))},
        saas_by_domain={d: i for d, i in reversed(domains) if "*" not in d},
        saas_globs=tuple(_Glob.of(d, i) for d, i in domains if "*" in d),
        override_sha={o.sha256.lower(): i for i, o in enumerate(overrides) if o.sha256},
        override_path={_norm_path(o.path): i for i, o in enumerate(overrides) if o.path},
        override_globs=tuple(_Glob.of(o.path_glob, i) for i, o in enumerate(overrides)
                             if o.path_glob),
        product_by_id={p.id: i for i, p in enumerate(products)},
    )


# --- Observation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Obs:
    path: str
    name: str
    display_name: str
    keys: tuple[str, ...]
    bundle_keys: tuple[str, ...]
    nested: bool
    platform: ObservedPlatform
    publisher: str | None
    vendor: str | None
    product_name: str | None
    product_key: str | None
    risky: bool
    portable: bool


def _norm_path(raw: str) -> str:
    path = raw.strip().strip('"').replace("\\", "/").lower()
    path = path[4:] if path.startswith("//?/") else path
    return re.sub(r"/{2,}", "/", path) if not path.startswith("//") else "/" + re.sub(
        r"/{2,}", "/", path
    )


def _platform(path: str) -> ObservedPlatform:
    if _DRIVE.match(path) or path.startswith(("//", "/device/")) or path.endswith(".exe"):
        return "windows"
    if ".app/" in path or path.startswith(("/applications/", "/system/", "/library/", "/users/",
                                           "/private/", "/opt/homebrew/")):
        return "macos"
    return "linux" if path.startswith("/") else "unknown"


def _observe(ix: _Index, key: _Key) -> _Obs:
    exe_path, publisher, product_name = key[0], key[1], key[2]
    path = _norm_path(exe_path)
    display_name = exe_path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].strip().strip('"')
    name = display_name.lower()
    segments = path.split("/")
    apps = [i for i, s in enumerate(segments) if s.endswith(".app")]
    main_exe = bool(apps) and len(segments) == apps[0] + 4 and segments[apps[0] + 2] == "macos"
    rest = "/" + "/".join(segments[apps[0] + 1:]) + "/" if apps else ""
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
        vendor=_vendor_of(ix, pkey) if pkey else None,
        product_name=product_name.strip() if product_name and product_name.strip() else None,
        product_key=product_name_key(product_name) if product_name else None,
        risky=any(m in path for m in _RISKY),
        portable="portable" in path,
    )


def _vendor_of(ix: _Index, pkey: str) -> str | None:
    words = pkey.split()
    for end in range(len(words), 0, -1):
        found = ix.vendor_by_key.get(" ".join(words[:end]))
        if found:
            return found
    return None


# --- Stages --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
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
    return _Hit(rule, category, product, product.name, ix.vendor_names[product.vendor],
                product.name if category == "background" else None)


def _override(ix: _Index, obs: _Obs, sha256: str | None, notes: list[str]) -> _Hit | None:
    found = ix.override_sha.get(sha256.strip().lower()) if sha256 else None
    if found is None:
        found = ix.override_path.get(obs.path)
    if found is None:
        found = next((g.target for g in ix.override_globs if g.hit(obs.path)), None)
    if found is None:
        return None
    rule = ix.catalog.overrides[found]
    notes.append(f"override: {rule.reason}")
    if rule.product is not None:
        product = ix.catalog.products[ix.product_by_id[rule.product]]
        return _product_hit(ix, "override", product, rule.category or "application")
    return _Hit("override", rule.category or "unknown", name=rule.name, vendor=rule.vendor)


def _background_hit(ix: _Index, entry: BackgroundEntry, obs: _Obs, rule: str) -> _Hit:
    vendor = ix.vendor_names.get(entry.vendor or obs.vendor or "", obs.publisher)
    serves = entry.serves and ix.catalog.products[ix.product_by_id[entry.serves]].name
    return _Hit(rule, "background", name=entry.name, vendor=vendor, serves=serves)


def _background(ix: _Index, obs: _Obs, notes: list[str]) -> _Hit | None:
    found = next((ix.bg_by_name[k] for k in obs.keys if k in ix.bg_by_name), None)
    if found is not None:
        hints = ix.catalog.background[found].hints
        found = found if not hints or any(h.lower() in obs.path for h in hints) else None
    if found is None:
        found = next((i for rx, i in ix.bg_regexes if rx.match(obs.name)), None)
    if found is None:
        found = next((g.target for g in ix.bg_globs if g.hit(obs.path)), None)
    if found is not None:
        entry = ix.catalog.background[found]
        notes.append(f"background: {entry.kind} entry {entry.id}")
        return _background_hit(ix, entry, obs, "background")
    if obs.nested:
        outer = obs.path.split(".app/", 1)[0].rsplit("/", 1)[-1]
        owner = _choose(ix, obs, ix.by_bundle.get(outer, ()), notes, corroborate=False)
        notes.append(f"background: helper nested inside {outer}.app")
        if owner is not None:
            return _product_hit(ix, "nested_helper", owner, "background")
        vendor = ix.vendor_names.get(obs.vendor or "", obs.publisher)
        return _Hit("nested_helper", "background", name=obs.display_name, vendor=vendor)
    return None


def _hinted(ix: _Index, target: int, obs: _Obs) -> bool:
    return any(h in obs.path for h in ix.hints[target]) or any(
        g.hit(obs.path) for g in ix.globs_of[target]
    )


def _choose(
    ix: _Index, obs: _Obs, candidates: Iterable[int], notes: list[str], *, corroborate: bool
) -> Product | None:
    """Best candidate after publisher vetoes; path hints beat publisher agreement beats order."""
    best: Product | None = None
    best_score = -1
    for target in candidates:
        product = ix.catalog.products[target]
        agrees = obs.vendor == product.vendor
        hinted = _hinted(ix, target, obs)
        if obs.vendor is not None and not agrees:
            notes.append(f"{product.id}: vetoed, publisher is {obs.vendor} not {product.vendor}")
            continue
        if obs.publisher and obs.vendor is None and obs.risky and not hinted:
            notes.append(f"{product.id}: vetoed, unrecognised publisher in a download/temp path")
            continue
        if (product.strict or corroborate) and not (agrees or hinted):
            notes.append(f"{product.id}: needs publisher or path hint")
            continue
        score = 2 * hinted + agrees
        if score > best_score:
            best, best_score = product, score
    return best


def _helper_like(display_name: str) -> bool:
    stem = display_name.rsplit(".", 1)[0] if "." in display_name else display_name
    return any(w in _HELPER_WORDS for w in _WORDS.findall(_CAMEL.sub(" ", stem).lower()))


def _by_product_name(ix: _Index, obs: _Obs, notes: list[str]) -> _Hit | None:
    if not obs.product_key or obs.product_key not in ix.by_product_name:
        return None
    cands = ix.by_product_name[obs.product_key]
    product = _choose(ix, obs, cands, notes, corroborate=obs.publisher is None)
    if product is None:
        return None
    notes.append(f"product name {obs.product_name!r} -> {product.id}")
    listed = any(k in ix.by_exe and ix.product_by_id[product.id] in ix.by_exe[k] for k in obs.keys)
    if not listed and _helper_like(obs.display_name):
        notes.append(f"{obs.display_name} is not a listed executable and looks like a helper")
        return _product_hit(ix, "product_name", product, "background")
    return _product_hit(ix, "product_name", product, "application")


def _by_file_name(ix: _Index, obs: _Obs, notes: list[str]) -> _Hit | None:
    for rule, keys, index in (("file_name", obs.keys, ix.by_exe),
                              ("bundle_name", obs.bundle_keys, ix.by_bundle)):
        for key in keys:
            if key in index:
                product = _choose(ix, obs, index[key], notes, corroborate=False)
                if product is not None:
                    notes.append(f"{rule} {key!r} -> {product.id}")
                    return _product_hit(ix, rule, product, "application")
    matched = [i for rx, i in ix.exe_regexes if rx.match(obs.name)]
    product = _choose(ix, obs, matched, notes, corroborate=False) if matched else None
    if product is not None:
        notes.append(f"file name pattern {obs.name!r} -> {product.id}")
        return _product_hit(ix, "file_name", product, "application")
    return None


def _by_path(ix: _Index, obs: _Obs, notes: list[str]) -> _Hit | None:
    matched = [g.target for g in ix.product_globs if g.hit(obs.path)]
    product = _choose(ix, obs, matched, notes, corroborate=False) if matched else None
    if product is not None:
        notes.append(f"path glob -> {product.id}")
        return _product_hit(ix, "path", product, "application")
    return None


def _heuristic(ix: _Index, obs: _Obs, notes: list[str]) -> _Hit | None:
    if obs.risky or obs.portable:
        return None
    vendor = ix.vendor_names.get(obs.vendor or "", obs.publisher)
    if _helper_like(obs.display_name):
        notes.append(f"{obs.display_name} looks like an updater, helper, service or installer")
        return _Hit("helper_heuristic", "background", name=obs.product_name, vendor=vendor)
    if any(obs.path.find(d) in (0, 2) for d in _OS_DIRS):
        notes.append("file lives in an operating-system folder")
        default = {"windows": "Microsoft", "macos": "Apple"}.get(obs.platform)
        return _Hit("os_component", "background", name=obs.product_name, vendor=vendor or default)
    return None


def _shadow_score(obs: _Obs, notes: list[str]) -> float:
    """Unknown software looks unmanaged when unsigned, in user-writable, temp or portable spots."""
    score = 0.0
    if obs.publisher is None:
        score += 0.15 if obs.platform == "linux" else 0.3
        notes.append("no publisher")
    elif obs.vendor is None:
        score += 0.1
        notes.append(f"publisher {obs.publisher!r} is not a catalog vendor")
    if obs.risky:
        score += 0.5
        notes.append("runs from a download or temporary folder")
    elif obs.portable:
        score += 0.4
        notes.append("portable-app folder")
    elif obs.path.startswith(("/users/", "/home/")) or "/users/" in obs.path[:10]:
        score += 0.2
        notes.append("user-writable folder")
    if obs.platform == "windows" and (obs.path.startswith("//") or not obs.path.startswith("c:")):
        score += 0.2
        notes.append("removable drive or network share")
    return round(min(score, 1.0), 2)


# --- Versions, editions, SaaS --------------------------------------------------------------


def _version_group(
    scheme: _Scheme, version: str | None, obs: _Obs, notes: list[str]
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
            notes.append(f"version {version} -> {label.label}")
            return label.label, label
    found = scheme.regex.search(f"{obs.path} {obs.product_name or ''}") if scheme.regex else None
    if found:
        text = found.group(1)
        label = scheme.by_match.get((text, platform)) or scheme.by_match.get((text, None))
        label = label or scheme.by_label.get(text.lower())
        notes.append(f"version group from path or name: {text}")
        return (label.label, label) if label else (text, None)
    if not parsed:
        return None, None
    if scheme.scheme.group_by == "major_minor" and minor is not None:
        return f"{major}.{minor}", None
    return major, None


def _edition(product: Product, obs: _Obs, notes: list[str]) -> tuple[str | None, LicenseModel | None]:
    pname = (obs.product_name or "").lower()
    for rule in product.editions:
        if (
            any(p.lower() in obs.path for p in rule.path)
            or any(p.lower() in pname for p in rule.product_name if pname)
            or any(e.lower() == obs.name for e in rule.exe)
        ):
            notes.append(f"edition {rule.name}")
            return rule.name, rule.license
    return product.default_edition, None


def _finish(ix: _Index, obs: _Obs, hit: _Hit | None, version: str | None,
            notes: list[str]) -> Fingerprint:
    product = hit.product if hit else None
    group, label, edition, edition_license = None, None, None, None
    if product is not None and hit is not None and hit.category == "application":
        scheme = ix.schemes[ix.product_by_id[product.id]]
        group, label = _version_group(scheme, version, obs, notes) if scheme else (None, None)
        edition, edition_license = _edition(product, obs, notes)
    eol_date = (label.eol if label else None) or (product.eol if product else None)
    category: Category = hit.category if hit else "unknown"
    score = _shadow_score(obs, notes) if category == "unknown" else 0.0
    if hit is None:
        notes.append("no rule matched")
    return Fingerprint.model_construct(
        catalog_version=ix.catalog.version,
        product=hit.name if hit else None,
        product_id=product.id if product else None,
        vendor=hit.vendor if hit else obs.publisher,
        category=category,
        suite=(label.suite if label else None) or (product.suite if product else None),
        edition=edition,
        version=version.strip() if version and version.strip() else None,
        version_group=group,
        license_model=(edition_license or (label.license if label else None)
                       or (product.license if product and category == "application" else None)),
        eol=eol_date is not None and eol_date <= ix.as_of,
        eol_date=eol_date,
        shadow_it=score >= SHADOW_IT_THRESHOLD,
        shadow_it_score=score,
        platform=obs.platform,
        serves=hit.serves if hit else None,
        rule=hit.rule if hit else "unknown",
        explain=tuple(notes),
    )


def _host_and_segment(url: str) -> tuple[str, str]:
    text = url.strip().lower()
    try:
        parts = urlsplit(text if "//" in text else "//" + text)
        host = (parts.hostname or "").removeprefix("www.")
    except ValueError:
        return "", ""
    return host, parts.path.strip("/").split("/", 1)[0]


def _saas(ix: _Index, app: str | None, url: str | None, notes: list[str]) -> Fingerprint:
    found, rule = None, "unknown"
    if app and app.strip():
        key = _name_key(app)
        found = ix.saas_by_name.get(key, ix.saas_by_name.get(key.replace(" ", "")))
        rule = "saas_name"
        notes.append(f"sign-in app {app!r}: {'found' if found is not None else 'not in catalog'}")
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
        notes.append(f"URL host {host!r}: {'found' if found is not None else 'not in catalog'}")
    if found is None:
        score = 0.5 if not (app and app.strip()) else 0.0
        if score:
            notes.append("web app seen only by URL, not registered with the identity provider")
        return _saas_result(ix, None, "unknown", score, tuple(notes))
    return _saas_result(ix, ix.catalog.saas[found], rule, 0.0, tuple(notes))


def _saas_result(ix: _Index, app: SaasApp | None, rule: str, score: float,
                 notes: tuple[str, ...]) -> Fingerprint:
    return Fingerprint.model_construct(
        catalog_version=ix.catalog.version,
        product=app.name if app else None,
        product_id=app.id if app else None,
        vendor=ix.vendor_names[app.vendor] if app else None,
        category=app.category if app else "unknown",
        suite=app.suite if app else None,
        edition=None,
        version=None,
        version_group=None,
        license_model=app.license if app and app.category == "application" else None,
        eol=False,
        eol_date=None,
        shadow_it=score >= SHADOW_IT_THRESHOLD,
        shadow_it_score=score,
        platform="saas",
        serves=None,
        rule=rule,
        explain=notes,
    )


# --- Public API ----------------------------------------------------------------------------


def _match(ix: _Index, key: _Key) -> Fingerprint:
    exe_path, _, _, version, sha256, saas_app, url = key
    notes: list[str] = []
    has_saas = bool((saas_app and saas_app.strip()) or (url and url.strip()))
    if not exe_path.strip() and has_saas:
        return _saas(ix, saas_app, url, notes)
    obs = _observe(ix, key)
    notes.append(f"{obs.platform} path, file {obs.name!r}, publisher {obs.publisher!r}"
                 + (f" -> vendor {obs.vendor}" if obs.vendor else ""))
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


@dataclass(frozen=True, slots=True)
class Matcher:
    """A compiled catalog; `lookup` is the cached match on an identity's fields."""

    catalog: Catalog
    lookup: Callable[[_Key], Fingerprint]


def build_matcher(catalog: Catalog, *, as_of: date | None = None,
                  cache_size: int = 131_072) -> Matcher:
    """Precompile indexes once; `as_of` fixes the day end-of-life is judged against."""
    index = _build_index(catalog, as_of or date.today())
    return Matcher(catalog, functools.lru_cache(maxsize=cache_size)(
        functools.partial(_match, index)))


def fingerprint(matcher: Matcher, identity: ExecutableIdentity) -> Fingerprint:
    """Classify one observation; repeated identities are answered from the cache."""
    return matcher.lookup((identity.exe_path, identity.publisher, identity.product_name,
                           identity.version, identity.sha256, identity.saas_app, identity.url))


def fingerprint_lines(matcher: Matcher, lines: Iterable[bytes | str], *,
                      explain: bool = False) -> Iterator[bytes]:
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
        yield orjson.dumps(fingerprint(matcher, identity).model_dump(mode="json", exclude=exclude))
