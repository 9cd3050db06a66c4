"""Editions and evidence names: what the version resource, bundle and path say, as one rule.

Edition words (Community, Professional, Reader, LT, Trial ...) are a vocabulary in the catalog
header; each product may add its own editions (names and extra words) and say which are free.
The same words are read for every product, so an edition reaches the result whether or not the
product lists it. Words that are part of the product's own name never name an edition (Adobe
Acrobat *Reader*, Final Cut *Pro*).

An executable the catalog does not know but whose signer (or version-resource company) and
product name are known is named from that evidence: the product name without marks, trailing
version or edition words, and the publisher without legal suffixes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from schemas.catalog import Catalog, EditionRule, Product

_WORDS = re.compile(r"[a-z0-9]+")
_MARKS = re.compile(r"\(r\)|\(tm\)|[®™©]", re.I)
_ARCH = re.compile(r"\((?:x64|x86|arm64|64-?bit|32-?bit)\)", re.I)
_TRAILING = re.compile(
    r"(?:[\s,._-]+(?:v?\d+(?:[._]\d+)*[a-z]?|r20\d\d[ab]|x64|x86|amd64|arm64|64-?bit|32-?bit|edition|\(\w+\)))+$", re.I
)
_PARENS = re.compile(r"\s*\([^)]*\)")
_PROFILE_PREFIX = re.compile(r"^(?:[a-z]:)?/(?:var/)?(?:users|home|documents and settings)/[^/]+/")
_LONGEST = 3  # words in the longest edition phrase ("home and student")


@functools.lru_cache(maxsize=16_384)
def words(text: str) -> tuple[str, ...]:
    return tuple(_WORDS.findall(_MARKS.sub(" ", text.lower())))


@dataclass(frozen=True, slots=True)
class EditionIndex:
    """The general vocabulary and each product's own editions, keyed by word phrase."""

    general: dict[str, EditionRule]
    suffixes: frozenset[str]
    starts: frozenset[str]
    any_start: re.Pattern[str]
    own: tuple[dict[str, EditionRule], ...]
    name_words: tuple[frozenset[str], ...]
    by_name: tuple[dict[str, EditionRule], ...]
    generic_names: frozenset[str]


def build_edition_index(catalog: Catalog) -> EditionIndex:
    general: dict[str, EditionRule] = {}
    suffixes: set[str] = set()
    for term in catalog.heuristics.editions:
        rule = EditionRule(name=term.name, license=term.license)
        for phrase in (" ".join(words(p)) for p in (term.name, *term.words)):
            general.setdefault(phrase, rule)
            if not term.in_names:
                suffixes.add(phrase)
    own = tuple(_own_phrases(p) for p in catalog.products)
    starts = frozenset(phrase.split(" ", 1)[0] for table in (general, *own) for phrase in table)
    alternation = "|".join(sorted(map(re.escape, starts), key=len, reverse=True)) or "(?!)"
    return EditionIndex(
        general=general,
        suffixes=frozenset(suffixes),
        starts=starts,
        any_start=re.compile(rf"(?<![a-z0-9])(?:{alternation})(?![a-z0-9])"),
        own=own,
        name_words=tuple(frozenset(words(p.name)) for p in catalog.products),
        by_name=tuple({e.name.lower(): e for e in p.editions} for p in catalog.products),
        generic_names=frozenset(" ".join(words(n)) for n in catalog.heuristics.generic_product_names),
    )


def _own_phrases(product: Product) -> dict[str, EditionRule]:
    out: dict[str, EditionRule] = {}
    for rule in product.editions:
        named = (rule.name,) if "(" not in rule.name and len(rule.name.split()) <= _LONGEST else ()
        for phrase in (*named, *rule.words):
            out.setdefault(" ".join(words(phrase)), rule)
    return out


def evidence_texts(product_name: str | None, description: str | None, bundle_id: str | None, path: str) -> list[str]:
    """Where an edition may be written, strongest first; the path without the profile folder,
    and on macOS only up to the bundle (its Contents are the bundle's insides, not names)."""
    texts = [t for t in (product_name, description) if t]
    if bundle_id:
        texts.append(bundle_id.replace(".", " "))
    local = _PROFILE_PREFIX.sub("/", path)
    texts.append(local.split(".app/", 1)[0].split("/contents/", 1)[0])
    return texts


def _phrases(tokens: tuple[str, ...], starts: frozenset[str]) -> Iterator[str]:
    """Longest phrases first, only where a word can begin one (most words cannot)."""
    for start, token in enumerate(tokens):
        if token in starts:
            for size in range(min(_LONGEST, len(tokens) - start), 0, -1):
                yield " ".join(tokens[start : start + size])


def find_edition(
    ix: EditionIndex, target: int | None, texts: Iterable[str], exclude: frozenset[str]
) -> EditionRule | None:
    """The first edition word in the evidence: the product's own editions, then the vocabulary.

    A word found by the vocabulary that the product also lists takes the product's entry (its
    license, suite and end of life)."""
    texts = [t.lower() for t in texts]
    if ix.any_start.search("\n".join(texts)) is None:
        return None  # one scan in C rules out evidence that names no edition, which is most
    own = ix.own[target] if target is not None else {}
    for text in texts:
        tokens = tuple(w for w in words(text) if w not in exclude)
        for phrase in _phrases(tokens, ix.starts):
            found = own.get(phrase) or ix.general.get(phrase)
            if found is not None:
                listed = ix.by_name[target].get(found.name.lower()) if target is not None else None
                return listed or found
    return None


def evidence_product(ix: EditionIndex, candidates: Iterable[str | None]) -> str | None:
    """A product name as people write it, from the first usable piece of evidence."""
    for raw in candidates:
        name = clean_product_name(ix, raw) if raw else ""
        if name and " ".join(words(name)) not in ix.generic_names:
            return name
    return None


def clean_product_name(ix: EditionIndex, raw: str) -> str:
    """'ZWCAD® 2024 Professional (x64)' -> 'ZWCAD': no marks, architecture, version or edition."""
    text = " ".join(_ARCH.sub(" ", _MARKS.sub("", raw)).split())
    while True:
        stripped = _TRAILING.sub("", text).strip(" ,-")
        tokens = stripped.split()
        for size in range(min(_LONGEST, len(tokens) - 1), 0, -1):
            if " ".join(words(" ".join(tokens[-size:]))) in ix.suffixes:
                stripped = " ".join(tokens[:-size])
                break
        if stripped == text:
            return text
        text = stripped


def vendor_display(raw: str, legal: frozenset[str]) -> str:
    """'ZWSOFT CO., LTD.(Guangzhou)' -> 'ZWSOFT': no parenthesised notes or trailing legal forms."""
    tokens = _PARENS.sub(" ", raw).replace(",", " ").split()
    while len(tokens) > 1 and (not words(tokens[-1]) or "".join(words(tokens[-1])) in legal):
        tokens.pop()
    return " ".join(tokens).strip(" ,.-") or raw.strip()
