#!/usr/bin/env bash
# kcat (Debian's package) is the independent producer the integration tests use.
set -euo pipefail
if command -v kcat >/dev/null; then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
  echo "kcat is missing: install Debian's 'kcat' package (sudo apt-get install kcat)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
kcat -V | head -1
