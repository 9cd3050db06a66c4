#!/usr/bin/env python3
"""Check that the environment the deploy files give each Seatmeter container is accepted by the
settings model (``schemas.settings.Settings``), and that the essentials are set explicitly.

The settings sections forbid unknown keys, so a misspelt or renamed ``SEATMETER_*`` variable in
the compose file or the Helm chart would stop the worker at start-up; this catches it here.

Input: JSON files mapping a container ("compose:worker", "k8s:StatefulSet/x/worker", ...) to its
environment, as written by ``deploycheck compose -env-out`` and ``deploycheck k8s-env``. Values
that come from Secrets arrive as placeholders. Run it with the project's virtualenv.
"""

from __future__ import annotations

import json
import os
import sys

from pydantic import ValidationError

from schemas.settings import Settings

# What each role must be told rather than left to a default that only suits a laptop.
REQUIRED = {
    "worker": [
        "SEATMETER_KAFKA__BOOTSTRAP_SERVERS",
        "SEATMETER_WAREHOUSE__URL",
        "SEATMETER_WORKER__DATA_DIR",
        "SEATMETER_PRIVACY__PSEUDONYM_KEY",
    ],
    "migrate": ["SEATMETER_WAREHOUSE__URL"],
    "simulator": ["SEATMETER_KAFKA__BOOTSTRAP_SERVERS"],
}


# Files the container mounts (a Secret's CA and client certificate): they do not exist here, so
# this file stands in for them and the settings model checks only how they are combined.
MOUNTED_FILES = ("SEATMETER_KAFKA__SSL_CAFILE", "SEATMETER_KAFKA__SSL_CERTFILE", "SEATMETER_KAFKA__SSL_KEYFILE")


def role(source: str) -> str | None:
    name = source.rsplit("/", 1)[-1].split(":")[-1]
    return name if name in REQUIRED else None


def main(paths: list[str]) -> int:
    sources: dict[str, dict[str, str]] = {}
    for path in paths:
        with open(path) as handle:
            sources.update(json.load(handle))
    problems, checked = [], 0
    for source, env in sorted(sources.items()):
        ours = {k: v for k, v in env.items() if k.startswith("SEATMETER_")}
        if not ours:
            continue
        for key in list(os.environ):
            if key.startswith("SEATMETER_"):
                del os.environ[key]
        os.environ.update(ours)
        os.environ.update({k: __file__ for k in MOUNTED_FILES if ours.get(k)})
        try:
            settings = Settings()
        except ValidationError as exc:
            problems.append(f"{source}: rejected by Settings:\n{exc}")
            continue
        checked += 1
        r = role(source)
        missing = [k for k in REQUIRED.get(r or "", []) if not ours.get(k)]
        if missing:
            problems.append(f"{source}: must set {', '.join(missing)}")
        if r in ("worker", "migrate") and settings.warehouse.url.startswith("chdb:"):
            problems.append(f"{source}: uses an embedded warehouse ({settings.warehouse.url})")
        print(f"settings: {source}: ok ({len(ours)} SEATMETER_* variables)")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if not checked:
        print("settings: no container with SEATMETER_* variables found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
