"""The packaged catalog against a labelled set of real-world executables.

`tests/fixtures/fingerprint/eval.jsonl` holds one observation a line, as agents report them on
Windows, macOS and Linux, with the product, edition, vendor and category a person would give
it. Every line must come out right (stricter than the 98 % the catalog is held to on unseen
executables); on failure the test lists each mismatch so the catalog can be fixed.
"""

from datetime import date
from pathlib import Path

import orjson
import pytest

from schemas.catalog import ExecutableIdentity
from streams.pipeline.name.fingerprint import build_matcher, fingerprint, load_catalog

EVAL = Path(__file__).resolve().parents[3] / "fixtures" / "fingerprint" / "eval.jsonl"
FIELDS = ("product", "edition", "vendor", "category")


def _cases() -> list[tuple[int, dict[str, str], dict[str, str | None]]]:
    lines = EVAL.read_bytes().splitlines()
    return [(n, case["input"], case["expect"]) for n, line in enumerate(lines, 1) if (case := orjson.loads(line))]


@pytest.fixture(scope="module")
def cases() -> list[tuple[int, dict[str, str], dict[str, str | None]]]:
    return _cases()


def test_eval_set_is_broad(cases):
    paths = [identity["exe_path"] for _, identity, _ in cases]
    assert len(cases) >= 700
    assert sum(p[1:3] == ":\\" for p in paths) >= 100, "Windows paths"
    assert sum(".app/" in p for p in paths) >= 50, "macOS bundles"
    assert sum(p.startswith(("/usr/", "/opt/", "/snap/", "/var/lib/flatpak/")) for p in paths) >= 30, "Linux paths"
    assert {expect["category"] for _, _, expect in cases} == {"application", "background", "unknown"}
    assert sum(expect["edition"] is not None for _, _, expect in cases) >= 80, "editions"
    assert all(set(expect) == set(FIELDS) for _, _, expect in cases)


def test_every_eval_case_is_fingerprinted_right(cases):
    matcher = build_matcher(load_catalog(), as_of=date(2026, 11, 29))
    mismatches = []
    for number, identity, expect in cases:
        got = fingerprint(matcher, ExecutableIdentity.model_validate(identity))
        wrong = {f: (expect[f], getattr(got, f)) for f in FIELDS if getattr(got, f) != expect[f]}
        if wrong:
            detail = ", ".join(f"{f}: want {w!r} got {g!r}" for f, (w, g) in wrong.items())
            mismatches.append(f"line {number} {identity['exe_path']}: {detail} (rule {got.rule})")
    right = len(cases) - len(mismatches)
    assert not mismatches, f"{right}/{len(cases)} right; mismatches:\n" + "\n".join(mismatches)
