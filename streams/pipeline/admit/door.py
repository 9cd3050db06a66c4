"""Stage: the rules at the door, applied to every decoded event before anything is kept.

In order: monitoring scope (excluded events are dropped and only counted), clock skew (events
from the future are dead-lettered), lateness (events older than the allowed lateness go to the
late-events topic with their reason, never silently dropped).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.settings import ScopeSettings
from schemas.usage import UsageEvent


class Verdict(StrEnum):
    ADMIT = "admit"
    OUT_OF_SCOPE = "out_of_scope"
    FROM_THE_FUTURE = "from_the_future"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class DoorPolicy:
    scope: ScopeSettings = ScopeSettings()
    allowed_clock_skew: timedelta = timedelta(minutes=5)
    allowed_lateness: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reason: str = ""


ADMITTED = Judgement(Verdict.ADMIT)


class Door:
    """A policy with its patterns compiled once; ``judge`` is the pure per-event rule."""

    def __init__(self, policy: DoorPolicy) -> None:
        self.policy = policy
        self._apps = _application_pattern(policy.scope.exclude_applications)
        self._include_departments = {d.casefold() for d in policy.scope.include_departments}
        self._exclude_departments = {d.casefold() for d in policy.scope.exclude_departments}

    def judge(self, event: UsageEvent, now: datetime, department: str | None = None) -> Judgement:
        """``department`` is the attributed user's, from the directory (``None`` when unknown)."""
        out_of_scope = self._scope_rule(event) or self._department_rule(department)
        if out_of_scope:
            return Judgement(Verdict.OUT_OF_SCOPE, out_of_scope)
        ahead = event.event_time - now
        if ahead > self.policy.allowed_clock_skew:
            return Judgement(
                Verdict.FROM_THE_FUTURE,
                f"event_time is {ahead.total_seconds():.0f}s ahead of the worker clock, "
                f"more than the allowed skew of {self.policy.allowed_clock_skew.total_seconds():.0f}s",
            )
        behind = now - event.event_time
        if behind > self.policy.allowed_lateness:
            return Judgement(
                Verdict.LATE,
                f"event_time is {behind.total_seconds() / 86400:.1f} days old, "
                f"beyond the allowed lateness of {self.policy.allowed_lateness.total_seconds() / 86400:g} days",
            )
        return ADMITTED

    def _scope_rule(self, event: UsageEvent) -> str | None:
        scope = self.policy.scope
        if self._apps is not None and any(self._apps.fullmatch(name) for name in _application_names(event)):
            return "excluded application"
        if scope.exclude_environments and event.environment in scope.exclude_environments:
            return "excluded environment"
        if scope.include_environments and event.environment not in scope.include_environments:
            return "environment not included"
        group = event.device_group or ""
        if scope.exclude_device_groups and group in scope.exclude_device_groups:
            return "excluded device group"
        if scope.include_device_groups and group not in scope.include_device_groups:
            return "device group not included"
        return None

    def _department_rule(self, department: str | None) -> str | None:
        folded = (department or "").casefold()
        if self._exclude_departments and folded in self._exclude_departments:
            return "excluded department"
        if self._include_departments and folded not in self._include_departments:
            return "department not included"
        return None


def _application_pattern(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """Case-insensitive globs on file name, full path or SaaS app name, compiled into one regex."""
    if not patterns:
        return None
    return re.compile("|".join(fnmatch.translate(p.casefold()) for p in patterns))


def _application_names(event: UsageEvent) -> tuple[str, ...]:
    if event.executable is not None:
        return (event.executable.file_name.casefold(), event.executable.path.casefold())
    if event.saas_app is not None:
        return (event.saas_app.name.casefold(),)
    return ()
