"""The software catalog's file format, the fingerprint input and its result.

The catalog is data, not code, so the schema is where its mistakes are caught: unknown keys,
dangling vendor or suite references, duplicate ids and regexes that do not compile all fail
at load time with the file and field named, rather than as silent mismatches in production.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

LicenseModel = Literal[
    "named_user",
    "concurrent_user",
    "per_device",
    "per_core",
    "subscription_seat",
    "free",
    "open_source",
    "freemium",
    "usage_based",
    "per_employee",
]
Category = Literal["application", "background", "unknown"]
Platform = Literal["windows", "macos", "linux"]
ObservedPlatform = Literal["windows", "macos", "linux", "saas", "unknown"]
BackgroundKind = Literal[
    "updater",
    "crash_reporter",
    "service",
    "helper",
    "webview",
    "agent",
    "installer",
    "launcher",
    "sync",
    "os",
]

_ID = r"^[a-z0-9][a-z0-9.+-]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_regexes(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex {value!r} does not compile: {exc}") from exc
    return values


class Vendor(_Frozen):
    """A publisher; `publishers` lists signer names beyond `name` (legal suffixes are ignored)."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    publishers: tuple[str, ...] = ()


class VersionLabel(_Frozen):
    """Names a file-version major (or major.minor) as customers know it, with its lifecycle."""

    match: str = Field(pattern=r"^\d+(\.\d+)?$")
    label: str = Field(min_length=1)
    platform: Platform | None = None
    eol: date | None = None
    suite: str | None = None
    license: LicenseModel | None = None


class VersionScheme(_Frozen):
    """How versions group: by major, major.minor, or release year (from path or name first)."""

    group_by: Literal["major", "major_minor", "year", "none"] = "major"
    path_regex: str | None = None
    labels: tuple[VersionLabel, ...] = ()

    @field_validator("path_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            _check_regexes((value,))
        return value


class EditionRule(_Frozen):
    """An edition of one product: its name, and what it changes (license, suite, end of life).

    The general rule finds the edition's name (or one of `words`) as a word in the evidence;
    `path`, `product_name` and `exe` add product-specific tests: case-insensitive substrings
    (path with forward slashes) or exact file names.
    """

    name: str = Field(min_length=1)
    words: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    product_name: tuple[str, ...] = ()
    exe: tuple[str, ...] = ()
    license: LicenseModel | None = None
    suite: str | None = None
    eol: date | None = None

    @field_validator("path", "product_name", "exe", "words")
    @classmethod
    def _folded(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.lower().replace("\\", "/") for v in value)


class EditionTerm(_Frozen):
    """A word (or phrase) that names an edition in any product's evidence, and its default license.

    `license: free` marks editions that are never a paid seat (Reader, Viewer, Community, Trial)
    unless a product's own edition list says otherwise. `in_names` marks words that often end a
    product's own name (Contoso Designer, Foo Reader): an uncatalogued name keeps them.
    """

    name: str = Field(min_length=1)
    words: tuple[str, ...] = ()
    license: LicenseModel | None = None
    in_names: bool = False

    @field_validator("words")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.lower() for v in value)


class _Matchable(_Frozen):
    """Match evidence shared by products and background entries; names are case-insensitive."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    exe: tuple[str, ...] = ()
    exe_regex: tuple[str, ...] = ()
    bundle: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    product_names: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ("windows", "macos", "linux")

    @field_validator("exe_regex")
    @classmethod
    def _regexes_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_regexes(value)


class Product(_Matchable):
    """A licensable (or free but tracked) product.

    `publishers` are extra signers accepted for it (acquisitions, renames); `strict` marks
    generic file names that need a publisher or path hint before they count; `always_on` marks
    clients that run all day whether anyone works with them (sync, VPN, security agents): their
    processes are background, never use. `editions` lists the editions the product is sold in.
    """

    vendor: str = Field(pattern=_ID)
    publishers: tuple[str, ...] = ()
    suite: str | None = None
    license: LicenseModel
    always_on: bool = False
    versions: VersionScheme | str | None = None
    editions: tuple[EditionRule, ...] = ()
    default_edition: str | None = None
    eol: date | None = None
    strict: bool = False

    @model_validator(mode="after")
    def _has_evidence(self) -> Product:
        if not (self.exe or self.exe_regex or self.bundle or self.paths or self.product_names):
            raise ValueError(f"product {self.id!r} has nothing to match on")
        return self


class BackgroundEntry(_Matchable):
    """A process that runs for a product but is never use of it: updaters, crash reporters, hosts."""

    vendor: str | None = Field(default=None, pattern=_ID)
    kind: BackgroundKind
    serves: str | None = None

    @model_validator(mode="after")
    def _has_evidence(self) -> BackgroundEntry:
        if not (self.exe or self.exe_regex or self.paths or self.bundle):
            raise ValueError(f"background entry {self.id!r} has nothing to match on")
        return self


class SaasApp(_Frozen):
    """A SaaS app as IdPs name it (Okta app names, Entra display names) and by URL host."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    vendor: str = Field(pattern=_ID)
    suite: str | None = None
    license: LicenseModel = "subscription_seat"
    names: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    category: Literal["application", "background"] = "application"

    @model_validator(mode="after")
    def _has_evidence(self) -> SaasApp:
        if not (self.names or self.domains):
            raise ValueError(f"SaaS app {self.id!r} needs names or domains")
        return self


class Override(_Frozen):
    """A local correction that beats every rule; `reason` keeps the audit trail honest."""

    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    path: str | None = None
    path_glob: str | None = None
    product: str | None = None
    category: Category | None = None
    name: str | None = None
    vendor: str | None = None
    reason: str = Field(min_length=3)

    @model_validator(mode="after")
    def _is_usable(self) -> Override:
        if sum(x is not None for x in (self.sha256, self.path, self.path_glob)) != 1:
            raise ValueError("an override needs exactly one of sha256, path, path_glob")
        if self.product is None and self.category is None:
            raise ValueError("an override needs a product or a category")
        return self


class Approval(_Frozen):
    """Software IT allows without a license pool (a site agreement, a vetted tool); `product` is a
    catalog product or SaaS app id, or a name as usage rows show it (case-insensitive)."""

    product: str = Field(min_length=1)
    reason: str = Field(min_length=3)


class ApprovalFile(_Frozen):
    approved: tuple[Approval, ...] = ()


class Heuristics(_Frozen):
    """Word and folder lists behind the heuristic rules, kept with the data they tune.

    Folders are lower-case with forward slashes; `os_folders` and `user_folders` are prefixes
    (after any drive letter), the others are substrings of the path.
    """

    legal_suffixes: tuple[str, ...] = ()
    helper_words: tuple[str, ...] = ()
    temp_folders: tuple[str, ...] = ()
    portable_markers: tuple[str, ...] = ()
    user_folders: tuple[str, ...] = ()
    os_folders: tuple[str, ...] = ()
    shared_folders: tuple[str, ...] = ()
    nested_bundle_folders: tuple[str, ...] = ()
    editions: tuple[EditionTerm, ...] = ()
    generic_product_names: tuple[str, ...] = ()


class CatalogHeader(_Frozen):
    """`catalog.yaml`: the version and which files make up the catalog."""

    version: str = Field(min_length=1)
    description: str = ""
    neutral_publishers: tuple[str, ...] = ()
    heuristics: Heuristics = Heuristics()
    suites: tuple[str, ...] = ()
    version_schemes: dict[str, VersionScheme] = {}
    vendors: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    background: tuple[str, ...] = ()
    saas: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()


class VendorFile(_Frozen):
    vendors: tuple[Vendor, ...]


class ProductFile(_Frozen):
    products: tuple[Product, ...]


class BackgroundFile(_Frozen):
    background: tuple[BackgroundEntry, ...]


class SaasFile(_Frozen):
    saas: tuple[SaasApp, ...]


class OverrideFile(_Frozen):
    overrides: tuple[Override, ...] = ()


class Catalog(_Frozen):
    """The merged catalog; cross-references are checked here so a loaded catalog is consistent."""

    version: str
    neutral_publishers: tuple[str, ...] = ()
    heuristics: Heuristics = Heuristics()
    suites: tuple[str, ...]
    version_schemes: dict[str, VersionScheme]
    vendors: tuple[Vendor, ...]
    products: tuple[Product, ...]
    background: tuple[BackgroundEntry, ...]
    saas: tuple[SaasApp, ...]
    overrides: tuple[Override, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        problems = _reference_problems(self)
        if problems:
            raise ValueError("; ".join(problems[:20]))
        return self


def _duplicates(ids: list[str]) -> list[str]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def _scheme_of(cat: Catalog, product: Product) -> VersionScheme | None:
    versions = product.versions
    return cat.version_schemes.get(versions) if isinstance(versions, str) else versions


def _reference_problems(cat: Catalog) -> list[str]:
    vendors = {v.id for v in cat.vendors}
    products = {p.id for p in cat.products}
    suites = set(cat.suites)
    problems = [f"duplicate vendor id {i}" for i in _duplicates([v.id for v in cat.vendors])]
    ids = [p.id for p in cat.products] + [b.id for b in cat.background] + [s.id for s in cat.saas]
    problems += [f"duplicate id {i}" for i in _duplicates(ids)]
    owners: list[tuple[str, str | None]] = [(p.id, p.vendor) for p in cat.products]
    owners += [(b.id, b.vendor) for b in cat.background] + [(s.id, s.vendor) for s in cat.saas]
    problems += [f"{i}: unknown vendor {v}" for i, v in owners if v is not None and v not in vendors]
    suite_refs: list[tuple[str, str | None]] = [(p.id, p.suite) for p in cat.products]
    suite_refs += [(s.id, s.suite) for s in cat.saas]
    for product in cat.products:
        if isinstance(product.versions, str) and product.versions not in cat.version_schemes:
            problems.append(f"{product.id}: unknown version scheme {product.versions}")
        scheme = _scheme_of(cat, product)
        suite_refs += [(product.id, e.suite) for e in product.editions]
        suite_refs += [(product.id, lab.suite) for lab in (scheme.labels if scheme else ())]
    problems += [f"{i}: unknown suite {s}" for i, s in suite_refs if s is not None and s not in suites]
    problems += [
        f"{b.id}: serves unknown product {b.serves}"
        for b in cat.background
        if b.serves is not None and b.serves not in products
    ]
    problems += [
        f"override for {o.sha256 or o.path or o.path_glob}: unknown product {o.product}"
        for o in cat.overrides
        if o.product is not None and o.product not in products
    ]
    return problems


class ExecutableIdentity(BaseModel):
    """One observation from an agent or a sign-in log; extra agent fields are ignored.

    Besides the signer (`publisher`), the version resource's `company` and `file_description`
    and the macOS `bundle_id` are evidence too; osquery's column names are accepted as aliases.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)

    exe_path: str = Field("", validation_alias=AliasChoices("exe_path", "path"))
    publisher: str | None = Field(
        None, validation_alias=AliasChoices("publisher", "signer", "subject_name", "authority")
    )
    product_name: str | None = Field(None, validation_alias=AliasChoices("product_name", "bundle_name"))
    version: str | None = None
    sha256: str | None = None
    saas_app: str | None = None
    url: str | None = None
    company: str | None = Field(None, validation_alias=AliasChoices("company", "company_name"))
    file_description: str | None = Field(None, validation_alias=AliasChoices("file_description", "description"))
    bundle_id: str | None = Field(None, validation_alias=AliasChoices("bundle_id", "bundle_identifier"))


class Fingerprint(_Frozen):
    """What one observation is, in catalog terms, and which rule said so."""

    catalog_version: str
    product: str | None
    product_id: str | None
    vendor: str | None
    category: Category
    suite: str | None
    edition: str | None
    version: str | None
    version_group: str | None
    license_model: LicenseModel | None
    eol: bool
    eol_date: date | None
    shadow_it: bool
    shadow_it_score: float = Field(ge=0.0, le=1.0)
    platform: ObservedPlatform
    serves: str | None
    rule: str
    catalogued: bool = True
    explain: tuple[str, ...] = ()
