"""Fingerprint throughput on a realistic mix: `python -m tests.bench.bench_fingerprint`.

A fleet reports the same few thousand executables over and over; what is new is mostly a known
product in another user's profile or at a new version, and sometimes a tool nobody has seen.
The mix is built from the catalog itself, so it exercises every rule family. Identities are
built before the clock starts: the figure is classification, not JSON parsing (the JSON-lines
figure, which includes parsing and serialising, is reported separately). The clock is the
process's CPU time, so the figures are per core even when the machine is busy.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import orjson

from schemas.catalog import BackgroundEntry, Catalog, ExecutableIdentity, Product
from streams.pipeline.name.fingerprint import Matcher, build_matcher, fingerprint, fingerprint_lines, load_catalog

WORKING_SET = 5_000
TOOL_WORDS = ("sync", "grab", "quick", "pdf", "scan", "zip", "note", "view", "edit", "tube", "dl", "net")


@dataclass(frozen=True)
class BenchResult:
    lookups: int
    repeated_share: float
    lookups_per_second: float
    miss_microseconds: float
    json_lines_per_second: float

    def rows(self) -> list[tuple[str, str]]:
        share = f"{self.repeated_share:.0%} repeated"
        return [
            (f"fingerprint lookups, {share}", f"{self.lookups_per_second:,.0f} lookups/s per core"),
            ("fingerprint of a never-seen identity", f"{self.miss_microseconds:.1f} µs"),
            (f"fingerprint JSON lines in and out, {share}", f"{self.json_lines_per_second:,.0f} lines/s"),
        ]


def _windows_path(rng: random.Random, vendor: str, product: str, exe: str) -> str:
    user = f"user{rng.randrange(5_000)}"
    return rng.choice(
        (
            f"C:\\Program Files\\{vendor}\\{product}\\{exe}",
            f"C:\\Program Files (x86)\\{vendor}\\{product}\\{exe}",
            f"C:\\Users\\{user}\\AppData\\Local\\Programs\\{product}\\{exe}",
        )
    )


def _known(catalog: Catalog, rng: random.Random) -> ExecutableIdentity:
    """A catalog product or background process as an agent would report it."""
    vendors = {v.id: v.name for v in catalog.vendors}
    entries: list[Product | BackgroundEntry] = [*catalog.products, *catalog.products, *catalog.background]
    entry = rng.choice(entries)
    exe = rng.choice(entry.exe or ("tool.exe",))
    vendor = vendors.get(entry.vendor or "", "Unknown")
    if exe.lower().endswith(".exe") or "." in exe:
        path = _windows_path(rng, vendor, entry.name, exe)
    elif entry.bundle and rng.random() < 0.6:
        path = f"/Applications/{entry.bundle[0]}/Contents/MacOS/{exe}"
    else:
        path = f"/usr/bin/{exe}" if rng.random() < 0.5 else f"/opt/{entry.name.lower().replace(' ', '-')}/{exe}"
    publisher = None if rng.random() < 0.25 else f"{vendor} Inc."
    version = f"{rng.randrange(1, 30)}.{rng.randrange(10)}.{rng.randrange(10_000)}"
    return ExecutableIdentity(exe_path=path, publisher=publisher, version=version)


def _unknown(rng: random.Random) -> ExecutableIdentity:
    name = rng.choice(TOOL_WORDS) + rng.choice(TOOL_WORDS) + str(rng.randrange(10_000))
    folder = rng.choice(("Downloads", "Desktop", "AppData\\Local\\Temp", "Tools", "PortableApps"))
    publisher = None if rng.random() < 0.7 else f"{name.title()} Software Ltd"
    return ExecutableIdentity(
        exe_path=f"C:\\Users\\user{rng.randrange(5_000)}\\{folder}\\{name}.exe", publisher=publisher
    )


def _saas(catalog: Catalog, rng: random.Random) -> ExecutableIdentity:
    app = rng.choice(catalog.saas)
    if app.names and rng.random() < 0.5:
        return ExecutableIdentity(saas_app=rng.choice(app.names))
    domain = rng.choice(app.domains or ("example.com",)).replace("*", f"t{rng.randrange(1_000)}")
    return ExecutableIdentity(url=f"https://{domain}/home")


def _fresh(catalog: Catalog, rng: random.Random) -> ExecutableIdentity:
    roll = rng.random()
    if roll < 0.75:
        return _known(catalog, rng)
    if roll < 0.90:
        return _unknown(rng)
    return _saas(catalog, rng)


def workload(catalog: Catalog, lookups: int, repeated_share: float, seed: int = 7) -> list[ExecutableIdentity]:
    """`repeated_share` of lookups hit a Zipf-like working set; the rest were never seen."""
    rng = random.Random(seed)
    working = [_fresh(catalog, rng) for _ in range(WORKING_SET)]
    weights = [1 / (rank + 1) for rank in range(WORKING_SET)]
    repeats = rng.choices(working, weights=weights, k=lookups)
    return [repeats[i] if rng.random() < repeated_share else _fresh(catalog, rng) for i in range(lookups)]


def _timed(work: Callable[[], object]) -> float:
    """CPU seconds of this process: "per core" on a shared machine, where wall time is noise.

    The pre-built workload is frozen out of the garbage collector's view first: a streaming
    worker holds one batch at a time, not hundreds of thousands of identities.
    """
    gc.collect()
    gc.freeze()
    started = time.process_time()
    work()
    elapsed = time.process_time() - started
    gc.unfreeze()
    return elapsed


def _run_lookups(matcher: Matcher, identities: list[ExecutableIdentity]) -> None:
    for identity in identities:
        fingerprint(matcher, identity)


def _drain(lines: Iterator[bytes]) -> None:
    for _ in lines:
        pass


def bench_fingerprint(lookups: int = 400_000, repeated_share: float = 0.9, repeats: int = 3) -> BenchResult:
    """Median throughput over `repeats` runs, each on a cold cache and its own fresh mix."""
    catalog = load_catalog()
    rates, lines_rates = [], []
    for run in range(repeats):
        identities = workload(catalog, lookups, repeated_share, seed=run)
        rates.append(lookups / _timed(partial(_run_lookups, build_matcher(catalog), identities)))
        raw = [orjson.dumps(i.model_dump(exclude_none=True)) for i in identities[: lookups // 4]]
        lines_rates.append(len(raw) / _timed(partial(_drain, fingerprint_lines(build_matcher(catalog), raw))))
    rng = random.Random(99)
    never_seen = [_fresh(catalog, rng) for _ in range(20_000)]
    miss = _timed(partial(_run_lookups, build_matcher(catalog), never_seen)) / len(never_seen) * 1e6
    return BenchResult(lookups, repeated_share, statistics.median(rates), miss, statistics.median(lines_rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=400_000)
    parser.add_argument("--repeated", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = bench_fingerprint(args.lookups, args.repeated, args.repeats)
    for name, figure in result.rows():
        print(f"{name:<52} {figure}")


if __name__ == "__main__":
    main()
