"""The catalog as the fingerprint stage needs it: normalised and indexed (``schemas.catalog_files``
reads and checks the files).

Everything here runs once per catalog (or once per distinct name, behind small caches), so the
per-lookup work in `streams.pipeline.name.fingerprint` is dictionary hits and a few substring tests.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from schemas.catalog import (
    Catalog,
    ObservedPlatform,
    Platform,
    VersionLabel,
    VersionScheme,
)
from streams.pipeline.name.evidence import EditionIndex, build_edition_index

# --- Normalisation ---------------------------------------------------------------------------

_SIGNER_PREFIX = re.compile(
    r"^(?:developer id application|apple development|apple distribution|mac developer|"
    r"3rd party mac developer application)\s*:\s*",
    re.I,
)
_TEAM_ID = re.compile(r"\s*\([A-Z0-9]{10}\)\s*$")
_DN_CN = re.compile(r"(?:^|,)\s*(?:cn|o)\s*=\s*(\"[^\"]*\"|[^,]*)", re.I)
_EXTENSIONS = frozenset(("exe", "app", "bin", "sh", "bat", "cmd", "appimage"))
_TRAILING_VERSION = re.compile(
    r"(?:[\s._-]*(?:v?\d+(?:[._]\d+)*[a-z]?|r20\d\d[ab]|\(\d+\)|x64|x86|amd64|arm64|64-?bit|32-?bit))+$"
)
_VERSION = re.compile(r"(\d+)(?:[.,](\d+))?")
_MARKS = re.compile(r"\(r\)|\(tm\)|[®™©]")
_ARCH = re.compile(r"\((?:x64|x86|arm64|64-?bit|32-?bit)\)")
_WORDS = re.compile(r"[a-z0-9]+")
_DIGIT = re.compile(r"\d")
_DRIVE = re.compile(r"^[a-z]:/")
_SLASHES = re.compile(r"/{2,}")
_VOLUME = re.compile(r"^/device/harddiskvolume\d+/")  # kernel paths from EDR agents: assume the system drive
_PROFILE = re.compile(r"^((?:[a-z]:)?[\\/](?:users|home|documents and settings)[\\/])[^\\/]+", re.I)
_MACOS_ROOTS = ("/applications/", "/system/", "/library/", "/users/", "/private/", "/opt/homebrew/")


@functools.lru_cache(maxsize=4096)
def clean_publisher(raw: str) -> str:
    """A signer as people read it: no Apple certificate prefix, team id or X.500 noise."""
    text = _TEAM_ID.sub("", _SIGNER_PREFIX.sub("", raw.strip()))
    if "=" in text:
        found = _DN_CN.search(text)
        text = found.group(1).strip('" ') if found else text
    return text.strip()


@functools.lru_cache(maxsize=4096)
def publisher_key(raw: str, legal: frozenset[str] = frozenset()) -> str:
    """Comparable publisher: ASCII, lower case, no legal suffixes ('Adobe Inc.' -> 'adobe')."""
    ascii_text = unicodedata.normalize("NFKD", clean_publisher(raw)).encode("ascii", "ignore")
    return " ".join(w for w in _WORDS.findall(ascii_text.decode().lower()) if w not in legal and len(w) > 1)


def name_key(name: str) -> str:
    """SaaS app names: lower-case words, punctuation dropped ('Office365 Shell WCSS-Client')."""
    return " ".join(_WORDS.findall(_MARKS.sub("", name.lower())))


@functools.lru_cache(maxsize=4096)
def product_name_key(raw: str) -> str:
    """Version-resource product name without marks, architecture or trailing version/year."""
    text = _ARCH.sub("", _MARKS.sub("", raw.lower()))
    return " ".join(_TRAILING_VERSION.sub("", text.strip()).split())


@functools.lru_cache(maxsize=16_384)
def name_keys(name: str) -> tuple[str, ...]:
    """Lookup keys for a file or bundle name: as given, without extension, without version."""
    stem, dot, ext = name.rpartition(".")
    keys = (name, stem) if dot and ext in _EXTENSIONS else (name,)
    if not _DIGIT.search(keys[-1], max(0, len(keys[-1]) - 8)):
        return keys
    stripped = _TRAILING_VERSION.sub("", keys[-1])
    return (*keys, stripped) if len(stripped) > 1 and stripped != keys[-1] else keys


def norm_path(raw: str) -> str:
    """Lower case, forward slashes, no doubled separators (a leading // marks a UNC share)."""
    path = raw.strip().strip('"').replace("\\", "/").lower()
    path = path[4:] if path.startswith("//?/") else path
    path = _VOLUME.sub("c:/", path) if path.startswith("/device/") else path
    if "//" not in path[1:]:
        return path
    return ("/" if path.startswith("//") else "") + _SLASHES.sub("/", path)


def without_drive(path: str) -> str:
    return path[2:] if _DRIVE.match(path) else path


def platform_of(path: str) -> ObservedPlatform:
    if _DRIVE.match(path) or path.startswith(("//", "/device/")) or path.endswith(".exe"):
        return "windows"
    if ".app/" in path or path.startswith(_MACOS_ROOTS):
        return "macos"
    return "linux" if path.startswith("/") else "unknown"


def is_removable(path: str) -> bool:
    """A network share or a drive other than C: (USB sticks, mapped drives)."""
    return path.startswith("//") or (_DRIVE.match(path) is not None and not path.startswith("c:"))


def mask_profile(raw_path: str) -> str:
    """The user-profile folder name never changes what a file is, so it is masked for caching."""
    found = _PROFILE.match(raw_path)
    return raw_path if found is None else f"{found.group(1)}~{raw_path[found.end() :]}"


# --- Index -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Glob:
    """A path glob with its longest literal part, tested first because `in` is cheap."""

    anchor: str
    regex: re.Pattern[str]
    target: int

    @classmethod
    def of(cls, pattern: str, target: int) -> Glob:
        lowered = pattern.lower().replace("\\", "/")
        anchor = max(re.split(r"[*?\[\]]", lowered), key=len)
        return cls(anchor, re.compile(fnmatch.translate(lowered)), target)

    def hit(self, text: str) -> bool:
        return self.anchor in text and self.regex.match(text) is not None


@dataclass(frozen=True, slots=True)
class Scheme:
    """A version scheme with its path regex compiled and its labels keyed for lookup."""

    group_by: str
    regex: re.Pattern[str] | None
    by_match: dict[tuple[str, Platform | None], VersionLabel]
    by_label: dict[str, VersionLabel]

    @classmethod
    def of(cls, scheme: VersionScheme) -> Scheme:
        regex = re.compile(scheme.path_regex, re.I) if scheme.path_regex else None
        if regex is None and scheme.group_by == "year":
            regex = re.compile(r"(?<![\w.])((?:19|20)\d\d)(?!\d)")
        by_match = {(label.match, label.platform): label for label in scheme.labels}
        return cls(scheme.group_by, regex, by_match, {label.label.lower(): label for label in scheme.labels})

    def label(self, match: str, platform: Platform | None) -> VersionLabel | None:
        return self.by_match.get((match, platform)) or self.by_match.get((match, None))

    def group(
        self, version: str | None, where: str, platform: Platform | None
    ) -> tuple[str | None, VersionLabel | None]:
        """Labels from the file version win; then `where` (path and product name: years,
        Office16, R2023b); then the raw major or major.minor."""
        if self.group_by == "none":
            return None, None
        parsed = _VERSION.search(version) if version else None
        major, minor = (parsed.group(1), parsed.group(2)) if parsed else ("", None)
        for match in ((f"{major}.{minor}",) if minor else ()) + ((major,) if major else ()):
            label = self.label(match, platform)
            if label is not None:
                return label.label, label
        found = self.regex.search(where) if self.regex else None
        if found:
            label = self.label(found.group(1), platform) or self.by_label.get(found.group(1).lower())
            return (label.label, label) if label else (found.group(1), None)
        if not parsed:
            return None, None
        return (f"{major}.{minor}" if self.group_by == "major_minor" and minor else major), None


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    """Every lookup structure the matcher needs, built once from a `Catalog`."""

    catalog: Catalog
    as_of: date
    vendor_names: dict[str, str]
    vendor_by_key: dict[str, str]
    legal: frozenset[str]
    neutral: frozenset[str]
    helper_words: frozenset[str]
    temp_folders: re.Pattern[str]
    portable_markers: re.Pattern[str]
    user_folders: tuple[str, ...]
    os_folders: tuple[str, ...]
    shared_folders: re.Pattern[str]
    nested_folders: tuple[str, ...]
    by_exe: dict[str, tuple[int, ...]]
    by_bundle: dict[str, tuple[int, ...]]
    by_product_name: dict[str, tuple[int, ...]]
    exe_regexes: tuple[tuple[re.Pattern[str], int], ...]
    any_exe_regex: re.Pattern[str] | None
    product_globs: tuple[Glob, ...]
    product_anchors: re.Pattern[str]
    hints: tuple[re.Pattern[str] | None, ...]
    bg_hints: tuple[re.Pattern[str] | None, ...]
    extra_publishers: tuple[frozenset[str], ...]
    globs_of: tuple[tuple[Glob, ...], ...]
    schemes: tuple[Scheme | None, ...]
    product_by_id: dict[str, int]
    bg_by_name: dict[str, tuple[int, ...]]
    bg_regexes: tuple[tuple[re.Pattern[str], int], ...]
    any_bg_regex: re.Pattern[str] | None
    bg_globs: tuple[Glob, ...]
    bg_anchors: re.Pattern[str]
    saas_by_name: dict[str, int]
    saas_by_domain: dict[str, int]
    saas_globs: tuple[Glob, ...]
    override_sha: dict[str, int]
    override_path: dict[str, int]
    override_globs: tuple[Glob, ...]
    named_by: tuple[frozenset[str], ...]
    editions: EditionIndex

    def vendor_of(self, pkey: str) -> str | None:
        """The catalog vendor of a publisher key, trying ever shorter word prefixes."""
        return _vendor_of(self, pkey)

    def saas_for_url(self, url: str) -> tuple[int | None, str]:
        """The SaaS app whose domain is the longest suffix of the URL's host, and the host.

        A domain may name one path segment ("atlassian.net/wiki"); globs ("*-my.sharepoint.com")
        are tried first, since they single out hosts that a plain suffix would also match.
        """
        text = url.strip().lower()
        try:
            parts = urlsplit(text if "//" in text else "//" + text)
            host = (parts.hostname or "").removeprefix("www.")
        except ValueError:
            return None, ""
        segment = parts.path.strip("/").split("/", 1)[0]
        found = next((g.target for g in self.saas_globs if host and g.hit(host)), None)
        labels = host.split(".")
        for start in range(len(labels) - 1):
            if found is not None:
                break
            suffix = ".".join(labels[start:])
            found = self.saas_by_domain.get(f"{suffix}/{segment}", self.saas_by_domain.get(suffix))
        return found, host


@functools.lru_cache(maxsize=4096)
def _vendor_of(index: Index, pkey: str) -> str | None:
    words = pkey.split()
    for end in range(len(words), 0, -1):
        found = index.vendor_by_key.get(" ".join(words[:end]))
        if found:
            return found
    return None


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


def _literals(texts: Iterable[str]) -> re.Pattern[str]:
    """One search for any of several substrings; never matches when there are none."""
    return re.compile("|".join(re.escape(t) for t in texts) or r"(?!)")


def _exe_keys(names: Iterable[str]) -> Iterator[str]:
    for name in names:
        yield from name_keys(name.lower())[:2]


def _folded(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.lower().replace("\\", "/") for v in values)


def build_index(catalog: Catalog, as_of: date) -> Index:
    """Compile the catalog: name dictionaries, regexes and globs, vendor aliases."""
    products, background, overrides, rules = catalog.products, catalog.background, catalog.overrides, catalog.heuristics
    legal = frozenset(rules.legal_suffixes)
    vendor_by_key: dict[str, str] = {}
    for vendor in catalog.vendors:
        for alias in (vendor.name, vendor.id, *vendor.publishers):
            vendor_by_key.setdefault(publisher_key(alias, legal), vendor.id)
    named = {k: Scheme.of(v) for k, v in catalog.version_schemes.items()}
    globs_of = tuple(tuple(Glob.of(g, i) for g in p.paths) for i, p in enumerate(products))
    bg_globs = tuple(Glob.of(g, i) for i, b in enumerate(background) for g in b.paths)
    saas_names = [(name_key(n), i) for i, s in enumerate(catalog.saas) for n in (s.name, *s.names)]
    domains = [(d.lower(), i) for i, s in enumerate(catalog.saas) for d in s.domains]
    return Index(
        catalog=catalog,
        as_of=as_of,
        vendor_names={v.id: v.name for v in catalog.vendors},
        vendor_by_key=vendor_by_key,
        legal=legal,
        neutral=frozenset(publisher_key(n, legal) for n in catalog.neutral_publishers),
        helper_words=frozenset(rules.helper_words),
        temp_folders=_literals(_folded(rules.temp_folders)),
        portable_markers=_literals(_folded(rules.portable_markers)),
        user_folders=_folded(rules.user_folders),
        os_folders=_folded(rules.os_folders),
        shared_folders=_literals(_folded(rules.shared_folders)),
        nested_folders=_folded(rules.nested_bundle_folders),
        by_exe=_multi((k, i) for i, p in enumerate(products) for k in _exe_keys(p.exe)),
        by_bundle=_multi((k, i) for i, p in enumerate(products) for k in _exe_keys(p.bundle)),
        by_product_name=_multi((product_name_key(n), i) for i, p in enumerate(products) for n in p.product_names),
        exe_regexes=tuple((re.compile(r, re.I), i) for i, p in enumerate(products) for r in p.exe_regex),
        any_exe_regex=_any_of(r for p in products for r in p.exe_regex),
        product_globs=tuple(g for gs in globs_of for g in gs),
        product_anchors=_literals(g.anchor for gs in globs_of for g in gs),
        hints=tuple(_literals(_folded(p.hints)) if p.hints else None for p in products),
        bg_hints=tuple(_literals(_folded(b.hints)) if b.hints else None for b in background),
        extra_publishers=tuple(frozenset(publisher_key(x, legal) for x in p.publishers) for p in products),
        globs_of=globs_of,
        schemes=tuple(
            named.get(p.versions) if isinstance(p.versions, str) else Scheme.of(p.versions) if p.versions else None
            for p in products
        ),
        product_by_id={p.id: i for i, p in enumerate(products)},
        bg_by_name=_multi((k, i) for i, b in enumerate(background) for k in _exe_keys((*b.exe, *b.bundle))),
        bg_regexes=tuple((re.compile(r, re.I), i) for i, b in enumerate(background) for r in b.exe_regex),
        any_bg_regex=_any_of(r for b in background for r in b.exe_regex),
        bg_globs=bg_globs,
        bg_anchors=_literals(g.anchor for g in bg_globs),
        saas_by_name=dict(reversed(saas_names)),
        saas_by_domain={d: i for d, i in reversed(domains) if "*" not in d},
        saas_globs=tuple(Glob.of(d, i) for d, i in domains if "*" in d),
        override_sha={o.sha256.lower(): i for i, o in enumerate(overrides) if o.sha256},
        override_path={norm_path(mask_profile(o.path)): i for i, o in enumerate(overrides) if o.path},
        override_globs=tuple(Glob.of(o.path_glob, i) for i, o in enumerate(overrides) if o.path_glob),
        named_by=tuple(frozenset(product_name_key(n) for n in p.product_names) for p in products),
        editions=build_edition_index(catalog),
    )
