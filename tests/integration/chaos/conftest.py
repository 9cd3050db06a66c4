"""Chaos scenarios (on the integration fixtures) print what each injected and what the verifier
found at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.chaos.ledger import Findings

FINDINGS: list[Findings] = []


@pytest.fixture
def record_findings() -> Iterator[list[Findings]]:
    """A scenario appends its findings here; the run's summary prints them, passed or not."""
    yield FINDINGS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FINDINGS:
        return
    terminalreporter.section("chaos: what each scenario injected, and what the verifier found")
    for found in FINDINGS:
        verdict = "exact" if not found.mismatches else f"{len(found.mismatches)} MISMATCH(ES)"
        compared = ", ".join(f"{count:,} {what}" for what, count in found.compared.items())
        terminalreporter.write_line(f"{found.scenario}: {verdict} ({compared})")
        for fault in found.injected:
            terminalreporter.write_line(f"    injected: {fault}")
        for mismatch in found.mismatches:
            terminalreporter.write_line(f"    found: {mismatch}")
