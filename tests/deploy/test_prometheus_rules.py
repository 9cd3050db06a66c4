"""The Prometheus alerting rules: promtool's checks and unit tests, and what the rules promise.

promtool comes from Debian's prometheus package; `make setup` (so `make test`) and
`make deploy-check` install it with `deploy/check.sh promtool`.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import streams.runtime.metrics  # noqa: F401  (registers every worker metric)
from streams.pipeline.alerts.payload import ALERT_NAMES, SEVERITIES

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
RULE_FILES = sorted(RULES.glob("*.yml"))
RULE_TESTS = sorted((RULES / "tests").glob("*.yaml"))
HELM_RULES = ROOT / "helm" / "seatmeter" / "templates" / "prometheusrule.yaml"
RUNBOOK_PAGE = "docs/operations.md"
RUNBOOK = f"https://github.com/seatmeter/seatmeter/blob/main/{RUNBOOK_PAGE}#alerts-prometheus-rules-and-webhook"
LICENSE_ALERTS = {
    "SeatmeterLicensePoolOverrun",
    "SeatmeterNamedUserPoolOverrun",
    "SeatmeterUnlicensedUse",
    "SeatmeterSyncGap",
    "SeatmeterPoolNearCapacity",
    "SeatmeterAlertEvaluatorStalled",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    tools = Path(os.environ.get("SEATMETER_TOOLS_DIR", Path.home() / ".cache" / "seatmeter" / "tools"))
    installed = tools / "promtool" / "usr" / "bin" / "promtool"
    found = shutil.which("promtool") or (str(installed) if installed.is_file() else None)
    if found is None:
        pytest.fail("promtool is missing: run `make setup` (or `bash deploy/check.sh promtool`)")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def alerting_rules() -> list[dict[str, object]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_there_are_rules_and_rule_tests():
    assert RULE_FILES
    assert RULE_TESTS


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_accepts_rule_file(promtool, path):
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_rule_unit_tests_pass(promtool, path):
    result = run(promtool, "test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_license_alerts_exist():
    assert {rule["alert"] for rule in alerting_rules()} >= LICENSE_ALERTS


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda r: str(r["alert"]))
def test_alert_has_severity_summary_and_description(rule):
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert {"summary", "description"} <= set(rule["annotations"])
    if rule["alert"] in LICENSE_ALERTS:
        assert rule["annotations"]["runbook_url"] == RUNBOOK


def test_webhook_alerts_carry_the_prometheus_names_and_severities():
    by_name = {rule["alert"]: rule["labels"]["severity"] for rule in alerting_rules()}
    for alert_rule, name in ALERT_NAMES.items():
        assert by_name[name] == SEVERITIES[alert_rule], name


def test_helm_chart_ships_the_same_alerts():
    template = HELM_RULES.read_text()
    in_chart = set(re.findall(r"alert: (Seatmeter\w+)", template)) | set(
        re.findall(r'\(list "(Seatmeter\w+)"', template)
    )
    assert in_chart == {rule["alert"] for rule in alerting_rules()}


def test_runbook_section_exists():
    heading = "## Alerts: Prometheus rules and webhook"
    anchor = RUNBOOK.rpartition("#")[2]
    assert heading in (ROOT / RUNBOOK_PAGE).read_text().splitlines()
    assert anchor == re.sub(r"[^a-z0-9 -]", "", heading.lstrip("# ").lower()).replace(" ", "-")


def exported_series() -> set[str]:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    return {
        metric.name + suffix
        for metric in REGISTRY.collect()
        if metric.name.startswith("seatmeter_")
        for suffix in suffixes.get(metric.type, ("",))
    }


def test_rules_only_name_metrics_the_worker_exports():
    """promtool cannot know a misspelt metric name; the registry of streams/runtime/metrics.py does."""
    exprs = [
        str(rule["expr"])
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    named = {name for expr in exprs for name in re.findall(r"\bseatmeter_\w+", expr)}
    assert named
    assert named <= exported_series()
