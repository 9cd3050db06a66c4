#!/usr/bin/env python3
"""Lay out Kubernetes JSON schemas for kubeconform from the kubernetes-validate wheel (PyPI).

kubeconform fetches its schemas from the internet by default. The ``kubernetes-validate``
package ships the same per-kind schemas (generated from each Kubernetes release's OpenAPI
spec), one folder per version, e.g. ``v1.34.0-local-strict/statefulset-apps-v1.json``. Their
``$ref``s point at ``/api/_definitions.json`` under an https ``$id``, which kubeconform would try
to download; this script rewrites them to the ``_definitions.json`` next to each file and drops
the ``$id``s, so everything resolves on disk. Output layout (kubeconform's default template):

    OUT/v1.34.0-standalone-strict/statefulset-apps-v1.json

Usage: k8s_schemas.py WHEEL OUT VERSION...   (VERSION like 1.34.0)
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

PREFIX = "kubernetes_validate/kubernetes-json-schema/"


def extract(wheel: Path, out: Path, version: str) -> int:
    src = f"{PREFIX}v{version}-local-strict/"
    dest = out / f"v{version}-standalone-strict"
    tmp = out / f".v{version}.partial"
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.startswith(src) and n.endswith(".json")]
        if not names:
            have = sorted({n[len(PREFIX) :].split("/")[0] for n in z.namelist() if n.startswith(PREFIX)})
            raise SystemExit(f"{wheel.name} has no schemas for Kubernetes {version}; it has: {', '.join(have)}")
        tmp.mkdir(parents=True, exist_ok=True)
        count = 0
        for name in names:
            base = name[len(src) :]
            if "/" in base or base == "all.json":
                continue
            text = z.read(name).decode().replace('"/api/_definitions.json#', '"_definitions.json#')
            doc = json.loads(text)
            doc.pop("$id", None)
            (tmp / base).write_text(json.dumps(doc))
            count += 1
    if dest.exists():
        for f in dest.iterdir():
            f.unlink()
        dest.rmdir()
    tmp.rename(dest)
    return count


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    wheel, out = Path(argv[1]), Path(argv[2])
    for version in argv[3:]:
        n = extract(wheel, out, version.lstrip("v"))
        print(f"schemas: Kubernetes {version}: {n} kinds in {out}/v{version.lstrip('v')}-standalone-strict")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
