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
7. ``helper_heuristic``  updater/crash/helper/installer-like names, files under OS folders
   ``os_component``      (Windows, /System, /usr/libexec, /usr/sbin) or shared-component
   ``shared_component``  folders (Common Files): background, except in download/temp folders.
8. ``evidence``          not in the catalog, but signed (or stamped with a version-resource
                         company) and named by product name, bundle name or file description:
                         an application named from that evidence, ``catalogued`` false.
9. ``unknown``           anything else, scored for shadow IT.

A product marked ``always_on`` (sync, VPN clients) is background whichever step found it.
Editions: the product's own edition tests, then the catalog's edition words read from the
product name, file description, bundle id and path (see ``fingerprint_evidence``); a free
edition makes the license model free.

An observation with no ``exe_path`` but a ``saas_app`` or ``url`` goes straight to step 6.

Same-name candidates (java.exe, acad.exe, firefox.exe) rank: a matching path hint, then a
product without hints over one whose hints did not match, then publisher agreement, then
catalog order. Publisher rules: a publisher that resolves to another catalog vendor vetoes a
candidate (a renamed or masquerading binary); an unrecognised publisher is accepted except in
temporary or download folders. With no publisher (normal on Linux, common for portable tools)
file names are trusted unless the product is ``strict`` (generic names), which then needs a
path hint. Microsoft's signature on a Microsoft Store (WindowsApps) package vetoes nothing.

Shadow IT is scored for unknown and evidence-named software only (flagged at 0.5): no publisher +0.3 (+0.15 on
Linux, where nothing is signed), an unrecognised publisher +0.1, a download/temp folder +0.5,
else a portable-app folder +0.4, else a user-profile folder +0.2, and a removable drive or
network share +0.2. An unknown web app seen only by URL scores 0.5; one registered with the
identity provider scores 0.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import orjson
from pydantic import ValidationError

from schemas.catalog import (
    BackgroundEntry,
    Catalog,
    Category,
    EditionRule,
    ExecutableIdentity,
    Fingerprint,
    ObservedPlatform,
    Platform,
    Product,
)
from schemas.catalog_files import CATALOG_DIR, CatalogError, load_catalog
from streams.pipeline.name.catalog_index import (
    Index,
    build_index,
    clean_publisher,
    is_removable,
    mask_profile,
    name_key,
    name_keys,
    norm_path,
    platform_of,
    product_name_key,
    publisher_key,
    without_drive,
)
from streams.pipeline.name.evidence import evidence_product, evidence_texts, find_edition, vendor_display

__all__ = [
    "CATALOG_DIR",
    "CatalogError",
    "IdentityKey",
    "Matcher",
    "build_matcher",
    "fingerprint",
    "fingerprint_lines",
    "load_catalog",
]

SHADOW_IT_THRESHOLD = 0.5
_Text = str | None
# exe_path, publisher, product_name, version, sha256, saas_app, url, company, file_description, bundle_id
IdentityKey = tuple[str, _Text, _Text, _Text, _Text, _Text, _Text, _Text, _Text, _Text]
_Key = IdentityKey
_PLATFORMS: dict[str, Platform] = {"windows": "windows", "macos": "macos", "linux": "linux"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORDS = re.compile(r"[a-z0-9]+")


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
    """One executable observation, normalised once for every rule to read."""

    path: str
    raw_path: str
    name: str
    display_name: str
    keys: tuple[str, ...]
    bundle_keys: tuple[str, ...]
    nested: bool
    platform: ObservedPlatform
    publisher: str | None
    publisher_key: str
    vendor: str | None
    product_name: str | None
    product_key: str | None
    risky: bool
    portable: bool
    company: str | None
    description: str | None
    bundle_id: str | None


@dataclass(slots=True)
class _Hit:
    rule: str
    category: Category
    product: Product | None = None
    name: str | None = None
    vendor: str | None = None
    serves: str | None = None
    catalogued: bool = True
    edition: EditionRule | None = None


def _stripped(value: str | None) -> str | None:
    return (value.strip() or None) if value else None


def _observe(ix: Index, key: _Key) -> _Obs:
    exe_path, publisher, product_name = key[0], key[1], key[2]
    company, description, bundle_id = _stripped(key[7]), _stripped(key[8]), _stripped(key[9])
    raw_path = exe_path.replace("\\", "/")
    path = norm_path(exe_path)
    display_name = raw_path.rstrip("/").rpartition("/")[2].strip().strip('"')
    name = display_name.lower()
    bundle_keys: tuple[str, ...] = ()
    nested = False
    if ".app/" in path:
        segments = path.split("/")
        apps = [i for i, s in enumerate(segments) if s.endswith(".app")]
        if len(segments) == apps[0] + 4 and segments[apps[0] + 2] == "macos":
            bundle_keys = name_keys(segments[apps[0]])
        else:
            inside = "/" + "/".join(segments[apps[0] + 1 :]) + "/"
            nested = len(apps) > 1 or any(n in inside for n in ix.nested_folders)
    pub = clean_publisher(publisher) if publisher and publisher.strip() else None
    pkey = publisher_key(pub, ix.legal) if pub else ""
    if pkey in ix.neutral:
        pub, pkey = None, ""
    vendor = ix.vendor_of(pkey) if pkey else None
    if vendor == "microsoft" and "/windowsapps/" in path:
        vendor = None  # Microsoft Store packages can carry the store's signature, not the vendor's
    product_name = product_name.strip() if product_name else None
    by_id = (bundle_id.lower(),) if bundle_id else ()
    return _Obs(
        path,
        raw_path,
        name,
        display_name,
        name_keys(name) + by_id,
        bundle_keys + by_id,
        nested,
        platform_of(path),
        pub,
        pkey,
        vendor,
        product_name or None,
        product_name_key(product_name) if product_name else None,
        ix.temp_folders.search(path) is not None,
        ix.portable_markers.search(path) is not None,
        company,
        description,
        bundle_id,
    )


def _product_hit(ix: Index, rule: str, product: Product, category: Category) -> _Hit:
    category = "background" if product.always_on else category
    serves = product.name if category == "background" else None
    return _Hit(rule, category, product, product.name, ix.vendor_names[product.vendor], serves)


def _override(ix: Index, obs: _Obs, sha256: str | None, notes: _Notes) -> _Hit | None:
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
    return _Hit("override", rule.category or "unknown", name=rule.name, vendor=rule.vendor, catalogued=False)


def _background_hit(ix: Index, entry: BackgroundEntry, obs: _Obs) -> _Hit:
    vendor = ix.vendor_names.get(entry.vendor or obs.vendor or "", obs.publisher)
    serves = entry.serves and ix.catalog.products[ix.product_by_id[entry.serves]].name
    return _Hit("background", "background", name=entry.name, vendor=vendor, serves=serves)


def _background(ix: Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    # Several entries may share a name (setup.exe of Chrome and of Edge): the first whose
    # path hints agree wins.
    named = next((ix.bg_by_name[k] for k in obs.keys if k in ix.bg_by_name), ())
    found = next((i for i in named if (hints := ix.bg_hints[i]) is None or hints.search(obs.path)), None)
    if found is None and ix.any_bg_regex and ix.any_bg_regex.match(obs.name):
        found = next((i for rx, i in ix.bg_regexes if rx.match(obs.name)), None)
    if found is None:
        found = (
            next((g.target for g in ix.bg_globs if g.hit(obs.path)), None) if ix.bg_anchors.search(obs.path) else None
        )
    if found is not None:
        entry = ix.catalog.background[found]
        notes.add("background: {} entry {}", entry.kind, entry.id)
        return _background_hit(ix, entry, obs)
    if not obs.nested:
        return None
    outer = obs.path.split(".app/", 1)[0].rsplit("/", 1)[-1]
    owner = _choose(ix, obs, ix.by_bundle.get(outer, ()), notes, corroborate=False)
    if owner is not None and any(ix.product_by_id[owner.id] in ix.by_exe.get(k, ()) for k in obs.keys):
        return None  # the product's own listed executable, nested (Docker.app/.../Docker Desktop)
    notes.add("background: helper nested inside {}.app", outer)
    if owner is not None:
        return _product_hit(ix, "nested_helper", owner, "background")
    vendor = ix.vendor_names.get(obs.vendor or "", obs.publisher)
    return _Hit("nested_helper", "background", name=obs.display_name, vendor=vendor, catalogued=False)


def _hinted(ix: Index, target: int, obs: _Obs) -> bool:
    hints = ix.hints[target]
    return (hints is not None and hints.search(obs.path) is not None) or any(
        g.hit(obs.path) for g in ix.globs_of[target]
    )


def _agrees(ix: Index, target: int, obs: _Obs) -> bool:
    if obs.vendor == ix.catalog.products[target].vendor:
        return True
    extra, words = ix.extra_publishers[target], obs.publisher_key.split()
    return bool(extra) and any(" ".join(words[:end]) in extra for end in range(len(words), 0, -1))


def _choose(ix: Index, obs: _Obs, candidates: Iterable[int], notes: _Notes, *, corroborate: bool) -> Product | None:
    """The best candidate left after publisher vetoes (ranking in the module docstring)."""
    best: Product | None = None
    best_score = -1
    for target in candidates:
        product = ix.catalog.products[target]
        agrees, hinted = _agrees(ix, target, obs), _hinted(ix, target, obs)
        if obs.publisher_key and not agrees and obs.vendor is not None:
            notes.add("{}: vetoed, publisher is {} not {}", product.id, obs.vendor, product.vendor)
        elif obs.publisher_key and not agrees and obs.risky and not hinted:
            notes.add("{}: vetoed, unrecognised publisher in a download/temp path", product.id)
        elif (product.strict or corroborate) and not (agrees or hinted):
            notes.add("{}: needs its publisher or a path hint", product.id)
        elif (score := _rank(ix, target, obs, hinted) + agrees) > best_score:
            best, best_score = product, score
    return best


def _rank(ix: Index, target: int, obs: _Obs, hinted: bool) -> int:
    """A path hint beats naming by the version resource, which beats having no hints at all."""
    named = 3 if obs.product_key is not None and obs.product_key in ix.named_by[target] else 0
    return (4 if hinted else 0 if ix.hints[target] is not None else 2) + named


def _helper_like(ix: Index, display_name: str) -> bool:
    stem = display_name.rsplit(".", 1)[0] if "." in display_name else display_name
    return any(w in ix.helper_words for w in _WORDS.findall(_CAMEL.sub(" ", stem).lower()))


def _by_product_name(ix: Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    if not obs.product_key or obs.product_key not in ix.by_product_name:
        return None
    product = _choose(ix, obs, ix.by_product_name[obs.product_key], notes, corroborate=obs.publisher is None)
    if product is None:
        return None
    notes.add("product name {!r} -> {}", obs.product_name, product.id)
    listed = any(ix.product_by_id[product.id] in ix.by_exe.get(k, ()) for k in obs.keys)
    if not listed and _helper_like(ix, obs.display_name):
        notes.add("{} is not a listed executable and looks like a helper", obs.display_name)
        return _product_hit(ix, "product_name", product, "background")
    return _product_hit(ix, "product_name", product, "application")


def _by_file_name(ix: Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    for rule, keys, index in (("file_name", obs.keys, ix.by_exe), ("bundle_name", obs.bundle_keys, ix.by_bundle)):
        for key in keys:
            product = _choose(ix, obs, index[key], notes, corroborate=False) if key in index else None
            if product is not None:
                notes.add("{} {!r} -> {}", rule, key, product.id)
                return _product_hit(ix, rule, product, "application")
    if not (ix.any_exe_regex and ix.any_exe_regex.match(obs.name)):
        return None
    product = _choose(ix, obs, [i for rx, i in ix.exe_regexes if rx.match(obs.name)], notes, corroborate=False)
    if product is None:
        return None
    notes.add("file name pattern {!r} -> {}", obs.name, product.id)
    return _product_hit(ix, "file_name", product, "application")


def _by_path(ix: Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    matched = [g.target for g in ix.product_globs if g.hit(obs.path)] if ix.product_anchors.search(obs.path) else []
    product = _choose(ix, obs, matched, notes, corroborate=False) if matched else None
    if product is None:
        return None
    notes.add("path glob -> {}", product.id)
    return _product_hit(ix, "path", product, "application")


def _heuristic(ix: Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    if obs.risky or obs.portable:
        return None
    vendor = ix.vendor_names.get(obs.vendor or "", obs.publisher)
    if _helper_like(ix, obs.display_name):
        notes.add("{} looks like an updater, helper, service or installer", obs.display_name)
        return _Hit("helper_heuristic", "background", name=obs.product_name, vendor=vendor, catalogued=False)
    if without_drive(obs.path).startswith(ix.os_folders):
        notes.add("file lives in an operating-system folder")
        default = {"windows": "Microsoft", "macos": "Apple"}.get(obs.platform)
        return _Hit("os_component", "background", name=obs.product_name, vendor=vendor or default, catalogued=False)
    if ix.shared_folders.search(obs.path):
        notes.add("file lives in a shared-components folder")
        return _Hit("shared_component", "background", name=obs.product_name, vendor=vendor, catalogued=False)
    return None


def _evidence(ix: Index, obs: _Obs, notes: _Notes) -> _Hit | None:
    """A signed (or company-stamped) executable with a product name is an application, not yet
    catalogued: named from that evidence. Not in download or temporary folders, and never under
    a catalog product's name that the catalog's own rules refused."""
    publisher = obs.publisher or (clean_publisher(obs.company) if obs.company else None)
    if publisher is None or obs.risky:
        return None
    bundle = obs.bundle_keys and obs.raw_path.split(".app/", 1)[0].rsplit("/", 1)[-1]
    product = evidence_product(ix.editions, (obs.product_name, bundle or None, obs.description))
    if product is None or product_name_key(product) in ix.by_product_name:
        return None  # a catalog product's name that its rules refused (another vendor's signer)
    vendor_id = obs.vendor or ix.vendor_of(publisher_key(publisher, ix.legal))
    vendor = ix.vendor_names[vendor_id] if vendor_id else vendor_display(publisher, ix.legal)
    texts = evidence_texts(obs.product_name, obs.description, obs.bundle_id, obs.path)
    edition = find_edition(ix.editions, None, texts, frozenset(_words(product)))
    notes.add("not in the catalog; named {!r} by {!r} from its own evidence", product, vendor)
    return _Hit("evidence", "application", name=product, vendor=vendor, catalogued=False, edition=edition)


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def _shadow_score(ix: Index, obs: _Obs, notes: _Notes) -> float:
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
    elif without_drive(obs.path).startswith(ix.user_folders):
        score += 0.2
        notes.add("user-writable folder")
    if is_removable(obs.path):
        score += 0.2
        notes.add("removable drive or network share")
    return round(min(score, 1.0), 2)


def _edition(ix: Index, product: Product, obs: _Obs, notes: _Notes) -> EditionRule | None:
    """The product's own edition tests first, then the general rule over the evidence."""
    pname = (obs.product_name or "").lower()
    for rule in product.editions:
        if (
            obs.name in rule.exe
            or any(p in obs.path for p in rule.path)
            or (pname and any(p in pname for p in rule.product_name))
        ):
            notes.add("edition {}", rule.name)
            return rule
    target = ix.product_by_id[product.id]
    texts = evidence_texts(obs.product_name, obs.description, obs.bundle_id, obs.path)
    found = find_edition(ix.editions, target, texts, ix.editions.name_words[target])
    if found is not None:
        notes.add("edition {} named in the evidence", found.name)
    return found


_EMPTY: dict[str, object] = dict.fromkeys(
    ("product", "product_id", "vendor", "suite", "edition", "version", "version_group", "license_model"), None
) | {"eol": False, "eol_date": None, "shadow_it": False, "shadow_it_score": 0.0, "serves": None}


def _result(ix: Index, notes: _Notes, **fields: object) -> Fingerprint:
    return Fingerprint.model_validate(
        {**_EMPTY, "catalog_version": ix.catalog.version, "explain": notes.steps(), **fields}
    )


def _finish(ix: Index, obs: _Obs, hit: _Hit | None, version: str | None, notes: _Notes) -> Fingerprint:
    product = hit.product if hit and hit.category == "application" else None
    group, label, edition = None, None, None
    if product is not None:
        scheme = ix.schemes[ix.product_by_id[product.id]]
        where = f"{obs.raw_path} {obs.product_name or ''}"
        group, label = scheme.group(version, where, _PLATFORMS.get(obs.platform)) if scheme else (None, None)
        notes.add("version {} -> group {}", version, group)
        edition = _edition(ix, product, obs, notes)
    elif hit is not None and hit.rule == "evidence":
        edition = hit.edition
    eol_date = (label and label.eol) or (edition and edition.eol) or (product and product.eol) or None
    score = _shadow_score(ix, obs, notes) if hit is None or hit.rule == "evidence" else 0.0
    if hit is None:
        return _result(
            ix,
            notes,
            vendor=obs.publisher,
            category="unknown",
            version=version.strip() if version and version.strip() else None,
            platform=obs.platform,
            rule="unknown",
            catalogued=False,
            shadow_it=score >= SHADOW_IT_THRESHOLD,
            shadow_it_score=score,
        )
    return _result(
        ix,
        notes,
        product=hit.name,
        product_id=hit.product.id if hit.product else None,
        vendor=hit.vendor,
        category=hit.category,
        suite=(edition and edition.suite) or (label and label.suite) or (product and product.suite) or None,
        edition=edition.name if edition else product.default_edition if product else None,
        version=version.strip() if version and version.strip() else None,
        version_group=group,
        license_model=(edition and edition.license) or (label and label.license) or (product and product.license),
        eol=eol_date is not None and eol_date <= ix.as_of,
        eol_date=eol_date,
        platform=obs.platform,
        serves=hit.serves,
        rule=hit.rule,
        catalogued=hit.catalogued,
        shadow_it=score >= SHADOW_IT_THRESHOLD,
        shadow_it_score=score,
    )


def _saas(ix: Index, app: str | None, url: str | None, notes: _Notes) -> Fingerprint:
    found, rule = None, "unknown"
    if app and app.strip():
        key = name_key(app)
        found, rule = ix.saas_by_name.get(key, ix.saas_by_name.get(key.replace(" ", ""))), "saas_name"
        notes.add("sign-in app {!r}: {}", app, "found" if found is not None else "not in catalog")
    if found is None and url and url.strip():
        found, host = ix.saas_for_url(url)
        rule = "saas_url"
        notes.add("URL host {!r}: {}", host, "found" if found is not None else "not in catalog")
    if found is None:
        score = 0.0 if app and app.strip() else 0.5
        if score:
            notes.add("web app seen only by URL, not registered with the identity provider")
        return _result(
            ix,
            notes,
            category="unknown",
            platform="saas",
            rule="unknown",
            catalogued=False,
            shadow_it=score >= SHADOW_IT_THRESHOLD,
            shadow_it_score=score,
        )
    entry = ix.catalog.saas[found]
    return _result(
        ix,
        notes,
        product=entry.name,
        product_id=entry.id,
        vendor=ix.vendor_names[entry.vendor],
        category=entry.category,
        suite=entry.suite,
        license_model=entry.license if entry.category == "application" else None,
        platform="saas",
        rule=rule,
    )


def _match(ix: Index, key: _Key, explain: bool) -> Fingerprint:
    """The rules in precedence order, on an identity whose user-profile folder is masked."""
    exe_path, _, _, version, sha256, saas_app, url = key[:7]
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
    return _finish(ix, obs, hit or _heuristic(ix, obs, notes) or _evidence(ix, obs, notes), version, notes)


@dataclass(frozen=True, slots=True)
class Matcher:
    """A compiled catalog with its caches; build once per catalog and share it."""

    catalog: Catalog
    lookup: Callable[[_Key, bool], Fingerprint]


def build_matcher(catalog: Catalog, *, as_of: date | None = None, cache_size: int = 65_536) -> Matcher:
    """Precompile indexes once; `as_of` fixes the day end-of-life is judged against.

    Two bounded LRU caches front the rules: one on the identity as given, one on the identity
    with its user-profile folder masked, so a known install seen in a new user's profile costs
    a regex rather than a full match.
    """
    index = build_index(catalog, as_of or date.today())
    by_masked = functools.lru_cache(maxsize=cache_size)(functools.partial(_match, index))

    def by_raw(key: _Key, explain: bool) -> Fingerprint:
        return by_masked((mask_profile(key[0]), *key[1:]), explain)

    return Matcher(catalog, functools.lru_cache(maxsize=cache_size)(by_raw))


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
        identity.company,
        identity.file_description,
        identity.bundle_id,
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
        yield orjson.dumps(fingerprint(matcher, identity, explain=explain).model_dump(mode="json", exclude=exclude))
