"""A seeded, small but realistic fleet: devices, users, roles, an application mix and a working day.

Each device belongs to one person and sits in one of a few time zones; apps open and close
during working hours with a lunch dip, and the agent samples every minute, buffering events
into envelopes the way a real agent uploads them.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import orjson

ZONES = (
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
)
FIRST_NAMES = (
    "ana",
    "ben",
    "chen",
    "dara",
    "eli",
    "fatima",
    "gus",
    "hana",
    "ivan",
    "jo",
    "kai",
    "lena",
    "mo",
    "nia",
    "omar",
    "pia",
    "quinn",
    "ravi",
    "sara",
    "tom",
    "uma",
    "vic",
    "wen",
    "yusuf",
    "zoe",
)


@dataclass(frozen=True, slots=True)
class App:
    file_name: str
    path: str
    publisher: str
    product_name: str
    version: str


OFFICE = (
    App(
        "EXCEL.EXE",
        r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
        "Microsoft Corporation",
        "Microsoft Excel",
        "16.0.17928.20114",
    ),
    App(
        "WINWORD.EXE",
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        "Microsoft Corporation",
        "Microsoft Word",
        "16.0.17928.20114",
    ),
    App(
        "OUTLOOK.EXE",
        r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        "Microsoft Corporation",
        "Microsoft Outlook",
        "16.0.17928.20114",
    ),
    App(
        "ms-teams.exe",
        r"C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64\ms-teams.exe",
        "Microsoft Corporation",
        "Microsoft Teams",
        "24295.605.3225.8804",
    ),
    App(
        "chrome.exe",
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        "Google LLC",
        "Google Chrome",
        "131.0.6778.86",
    ),
)
ROLE_APPS = {
    "office": (),
    "developer": (
        App(
            "devenv.exe",
            r"C:\Program Files\Microsoft Visual Studio\2022\Professional\Common7\IDE\devenv.exe",
            "Microsoft Corporation",
            "Microsoft Visual Studio",
            "17.12.35514.174",
        ),
        App(
            "idea64.exe",
            r"C:\Program Files\JetBrains\IntelliJ IDEA 2024.3\bin\idea64.exe",
            "JetBrains s.r.o.",
            "IntelliJ IDEA",
            "2024.3.0",
        ),
        App(
            "Code.exe",
            r"C:\Users\Public\AppData\Local\Programs\Microsoft VS Code\Code.exe",
            "Microsoft Corporation",
            "Visual Studio Code",
            "1.95.3",
        ),
    ),
    "designer": (
        App(
            "Photoshop.exe",
            r"C:\Program Files\Adobe\Adobe Photoshop 2025\Photoshop.exe",
            "Adobe Inc.",
            "Adobe Photoshop 2025",
            "26.1.0",
        ),
        App(
            "Illustrator.exe",
            r"C:\Program Files\Adobe\Adobe Illustrator 2025\Support Files\Contents\Windows"
            r"\Illustrator.exe",
            "Adobe Inc.",
            "Adobe Illustrator 2025",
            "29.1.0",
        ),
        App(
            "Acrobat.exe",
            r"C:\Program Files\Adobe\Acrobat DC\Acrobat\Acrobat.exe",
            "Adobe Inc.",
            "Adobe Acrobat",
            "24.4.20272",
        ),
    ),
    "engineer": (
        App(
            "acad.exe",
            r"C:\Program Files\Autodesk\AutoCAD 2025\acad.exe",
            "Autodesk, Inc.",
            "AutoCAD",
            "25.0.58.0",
        ),
        App(
            "SLDWORKS.exe",
            r"C:\Program Files\SOLIDWORKS Corp\SOLIDWORKS\SLDWORKS.exe",
            "Dassault Systemes SolidWorks Corp",
            "SOLIDWORKS",
            "32.1.0.0076",
        ),
    ),
    "analyst": (
        App(
            "tableau.exe",
            r"C:\Program Files\Tableau\Tableau 2024.3\bin\tableau.exe",
            "Tableau Software LLC",
            "Tableau Desktop",
            "2024.3.0",
        ),
        App(
            "matlab.exe",
            r"C:\Program Files\MATLAB\R2024b\bin\win64\MATLAB.exe",
            "The MathWorks, Inc.",
            "MATLAB",
            "24.2.0.2712019",
        ),
    ),
}
ROLE_WEIGHTS = {"office": 10, "developer": 5, "designer": 3, "engineer": 2, "analyst": 3}


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    user: str
    zone: timezone
    role: str
    apps: tuple[App, ...]


@dataclass(slots=True)
class FleetTraffic:
    """What the simulator made: Kafka messages (key, value) and a summary to print."""

    messages: list[tuple[bytes, bytes]] = field(default_factory=list)
    events: int = 0
    events_by_product: Counter[str] = field(default_factory=Counter)
    first_event: datetime | None = None
    last_event: datetime | None = None


def build_fleet(rng: random.Random, devices: int) -> list[Device]:
    roles = list(ROLE_WEIGHTS)
    fleet = []
    for number in range(devices):
        role = rng.choices(roles, weights=[ROLE_WEIGHTS[r] for r in roles])[0]
        user = f"CORP\\{FIRST_NAMES[number % len(FIRST_NAMES)]}.{number:03d}"
        apps = tuple(a for a in OFFICE if rng.random() < 0.85) + ROLE_APPS[role]
        fleet.append(Device(f"WS-{number:04d}", user, ZONES[number % len(ZONES)], role, apps or OFFICE[:1]))
    return fleet


def simulate_day(seed: int, devices: int, day: date, envelope_size: int = 30) -> FleetTraffic:
    """Every device's working day on ``day`` (local time), as agent messages."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo, not a secret
    traffic = FleetTraffic()
    for device in build_fleet(rng, devices):
        events = [e for app in device.apps for e in _app_day(rng, device, app, day)]
        events.sort(key=lambda e: e["event_time"])
        _pack(rng, device, events, envelope_size, traffic)
    return traffic


def _app_day(rng: random.Random, device: Device, app: App, day: date) -> list[dict[str, Any]]:
    opens = datetime.combine(day, time(8), device.zone) + timedelta(minutes=rng.randint(0, 90))
    closes = datetime.combine(day, time(16, 30), device.zone) + timedelta(minutes=rng.randint(0, 90))
    focus = rng.uniform(0.1, 0.6)
    events = [_event(rng, device, app, "start", opens, 0, 0)]
    moment = opens
    while moment + timedelta(seconds=60) <= closes:
        moment += timedelta(seconds=60)
        at_lunch = time(12) <= moment.timetz().replace(tzinfo=None) < time(13)
        active = 0.0 if at_lunch else round(min(60.0, max(0.0, rng.gauss(focus, 0.2) * 60)), 1)
        events.append(_event(rng, device, app, "sample", moment, active, 60))
    events.append(_event(rng, device, app, "stop", moment, 0, 0))
    return events


def _event(
    rng: random.Random, device: Device, app: App, kind: str, moment: datetime, active: float, interval: int
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "schema_version": 2,
        "event_time": moment.isoformat(),
        "device_id": device.device_id,
        "user": device.user,
        "executable": {
            "path": app.path,
            "file_name": app.file_name,
            "publisher": app.publisher,
            "product_name": app.product_name,
            "version": app.version,
        },
        "kind": kind,
        "active_seconds": active,
        "idle_seconds": round(interval - active, 1) if interval else 0.0,
        "interval_seconds": interval,
    }


def _pack(rng: random.Random, device: Device, events: list[dict[str, Any]], size: int, out: FleetTraffic) -> None:
    key = device.device_id.encode()
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        if rng.random() < 0.1:
            out.messages.extend((key, orjson.dumps(e)) for e in chunk)
        else:
            out.messages.append((key, orjson.dumps({"schema_version": 2, "events": chunk})))
        for e in chunk:
            moment = datetime.fromisoformat(e["event_time"]).astimezone(UTC)
            out.first_event = min(moment, out.first_event or moment)
            out.last_event = max(moment, out.last_event or moment)
            out.events_by_product[e["executable"]["file_name"].casefold()] += 1
        out.events += len(chunk)
