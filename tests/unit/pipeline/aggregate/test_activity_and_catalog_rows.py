from datetime import UTC, datetime

from schemas.usage import AgentHealth
from streams.pipeline.aggregate.arrivals import batch_arrivals
from streams.pipeline.name.catalog_rows import catalog_product_rows
from streams.pipeline.name.fingerprint import load_catalog
from streams.pipeline.sessionize.sessions import KeyedObservation, Observation, SessionKey
from tests.unit.helpers import record

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_arrivals_name_devices_agents_sources_and_the_writer():
    observation = Observation(0, 0, None)
    observations = [
        KeyedObservation(SessionKey("WS-1", "u", "Excel"), observation, "agent", 0, 1),
        KeyedObservation(SessionKey("", "u", "Slack"), observation, "okta", 0, 2),
    ]
    health = [AgentHealth("h", "WS-2", NOW, "1.0", 1.0, 1, 1.0, 0)]
    arrivals = batch_arrivals([record({}, topic="agent"), record({}, topic="okta")], observations, health, "w1", NOW)
    assert {(a.kind, a.subject) for a in arrivals} == {
        ("device", "WS-1"),
        ("agent", "WS-2"),
        ("source", "agent"),
        ("source", "okta"),
        ("writer", "w1"),
    }
    assert {a.seen_at for a in arrivals} == {NOW}


def test_catalog_rows_carry_suites_from_versions_and_mark_free_software():
    rows = {r.product: r for r in catalog_product_rows(load_catalog())}
    excel = rows["Microsoft Excel"]
    assert excel.product_id == "microsoft-excel" and excel.vendor == "Microsoft"
    assert {"Microsoft 365 Apps", "Microsoft Office 2010"} <= set(excel.suites)
    assert excel.licensable
    assert rows["Adobe Photoshop"].suites == ("Adobe Creative Cloud",)
    assert not rows["Google Chrome"].licensable
    assert len(rows) > 600
