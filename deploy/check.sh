#!/usr/bin/env bash
# Validates Seatmeter's deployment files with no Docker engine, no cluster and no internet
# (package registries only). `make deploy-check` runs it.
#
#   1. helm lint --strict        default values, and helm/seatmeter/ci/all-features-values.yaml
#   2. helm template | kubeconform -strict, against Kubernetes JSON schemas from the
#      kubernetes-validate wheel (PyPI), for each of $SEATMETER_KUBE_VERSIONS
#   3. ServiceMonitor / PrometheusRule (no schema for kubeconform): strict decoding into
#      prometheus-operator's Go types plus Prometheus rule validation (deploycheck crd), and the
#      schemas of @kubernetes-models/prometheus-operator (npm)
#   4. docker-compose.yml through compose-go, the loader `docker compose` uses (deploycheck
#      compose), plus `docker compose config` when the compose plugin is installed
#   5. prometheus.yml, rule files and the dashboards' PromQL through Prometheus's own parsers;
#      then `promtool check rules` on every rule file and `promtool test rules` on the rule unit
#      tests (deploy/prometheus/rules/tests/*.yaml), with promtool from Debian's prometheus package
#   6. the Dockerfile's syntax (dockerfile-utils, the linter of the Dockerfile language server)
#   7. the SEATMETER_* environment of every container (compose and chart) against the settings
#      model, and the dashboards' ClickHouse queries against the migrated schema (pytest); both
#      need the project's .venv
#
# Tools are built or downloaded once into $SEATMETER_TOOLS_DIR (default ~/.cache/seatmeter/tools)
# and reused. Every step runs even when an earlier one fails; the exit status is non-zero if any
# failed. `deploy/check.sh promtool` only installs promtool and prints its path (`make setup` runs
# it for the test suite).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${SEATMETER_TOOLS_DIR:-${HOME}/.cache/seatmeter/tools}"
CHART="${ROOT}/helm/seatmeter"
CHART_CI_VALUES="${CHART}/ci/all-features-values.yaml"
TOOLS_SRC="${ROOT}/deploy/tools"

HELM_VERSION="v3.22.0"
KUBECONFORM_VERSION="v0.8.0"
KUBERNETES_VALIDATE_VERSION="1.37.0"
# Oldest Kubernetes the chart supports in practice, a current one, and the newest with schemas.
read -r -a KUBE_VERSIONS <<< "${SEATMETER_KUBE_VERSIONS:-1.30.0 1.34.0 1.37.0}"

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export GOMODCACHE="${TOOLS}/go/mod" GOCACHE="${TOOLS}/go/cache" GOTOOLCHAIN=local GOFLAGS=
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

FAILED=()
ts() { date +%s%N; }
elapsed() {
  local ms=$((($(ts) - $1) / 1000000))
  printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}
log() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# step NAME CMD...: run one check, record its result, never abort the script.
step() {
  local name="$1" start
  shift
  log "${name}"
  start="$(ts)"
  if "$@"; then
    printf '\033[32mPASS\033[0m %s (%s)\n' "${name}" "$(elapsed "${start}")"
  else
    printf '\033[31mFAIL\033[0m %s (%s)\n' "${name}" "$(elapsed "${start}")"
    FAILED+=("${name}")
  fi
}

need() {
  command -v "$1" > /dev/null 2>&1 || { echo "missing required command: $1 ($2)" >&2; return 1; }
}

# ------------------------------------------------------------------------------------- tools

install_go_tool() { # NAME VERSION PACKAGE -> prints the binary path
  local name="$1" version="$2" pkg="$3" dir="${TOOLS}/${1}/${2}"
  if [[ ! -x "${dir}/${name}" ]]; then
    echo "building ${name} ${version} (Go module proxy) ..." >&2
    mkdir -p "${dir}"
    GOBIN="${dir}" "${GO}" install "${pkg}@${version}" >&2 || return 1
  fi
  echo "${dir}/${name}"
}

build_deploycheck() {
  local dir="${TOOLS}/deploycheck"
  mkdir -p "${dir}"
  # Rebuilt every run: incremental, about a second once the build cache is warm.
  (cd "${TOOLS_SRC}/deploycheck" && "${GO}" build -trimpath -o "${dir}/deploycheck" .) >&2 || return 1
  echo "${dir}/deploycheck"
}

install_node_tools() {
  local hash dir
  hash="$(cat "${TOOLS_SRC}/package.json" "${TOOLS_SRC}/package-lock.json" | sha256sum | cut -c1-16)"
  dir="${TOOLS}/node/${hash}"
  if [[ ! -d "${dir}/node_modules" ]]; then
    echo "installing npm validators ..." >&2
    mkdir -p "${dir}"
    cp "${TOOLS_SRC}/package.json" "${TOOLS_SRC}/package-lock.json" "${dir}/"
    (cd "${dir}" && npm ci --no-audit --no-fund --silent) >&2 || { rm -rf "${dir}"; return 1; }
  fi
  cp "${TOOLS_SRC}/crd-validate.mjs" "${dir}/"
  echo "${dir}"
}

install_k8s_schemas() {
  local base="${TOOLS}/k8s-schemas/kubernetes-validate-${KUBERNETES_VALIDATE_VERSION}" wheel v missing=()
  mkdir -p "${base}/wheel"
  wheel="$(find "${base}/wheel" -name 'kubernetes_validate-*.whl' | head -n1)"
  if [[ -z "${wheel}" ]]; then
    echo "downloading kubernetes-validate ${KUBERNETES_VALIDATE_VERSION} (PyPI) ..." >&2
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      -d "${base}/wheel" "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}" >&2 || return 1
    wheel="$(find "${base}/wheel" -name 'kubernetes_validate-*.whl' | head -n1)"
  fi
  for v in "${KUBE_VERSIONS[@]}"; do
    [[ -f "${base}/v${v}-standalone-strict/statefulset-apps-v1.json" ]] || missing+=("${v}")
  done
  if ((${#missing[@]})); then
    python3 "${TOOLS_SRC}/k8s_schemas.py" "${wheel}" "${base}" "${missing[@]}" >&2 || return 1
  fi
  echo "${base}"
}

# promtool from Debian's prometheus package: the .deb is fetched with apt-get and only promtool is
# unpacked into the tools cache, so the package's daemon, service and web assets are never
# installed or started. A promtool already on PATH wins. apt-get update runs only when the package
# lists are missing (a clean CI machine), which needs root.
install_promtool() {
  local dir="${TOOLS}/promtool" tmp deb sandbox=()
  if command -v promtool > /dev/null 2>&1; then
    command -v promtool
    return 0
  fi
  if [[ ! -x "${dir}/usr/bin/promtool" ]]; then
    need apt-get "Debian's package manager, for the prometheus package" || return 1
    echo "fetching promtool (Debian package prometheus) ..." >&2
    if ! apt-cache show prometheus > /dev/null 2>&1; then
      [[ $(id -u) -eq 0 ]] || {
        echo "no apt package lists: run \`sudo apt-get update\` or install 'prometheus'" >&2
        return 1
      }
      apt-get update -qq >&2 || return 1
    fi
    # As root, apt hands the download to its _apt user, who cannot write to this cache.
    [[ $(id -u) -ne 0 ]] || sandbox=(-o APT::Sandbox::User=root)
    mkdir -p "${dir}/usr/bin"
    tmp="$(mktemp -d "${dir}/fetch.XXXXXX")"
    (cd "${tmp}" && apt-get download -qq "${sandbox[@]}" prometheus) >&2 &&
      deb="$(find "${tmp}" -name 'prometheus_*.deb' | head -n1)" &&
      dpkg-deb --fsys-tarfile "${deb}" | tar -x -C "${tmp}" ./usr/bin/promtool &&
      mv "${tmp}/usr/bin/promtool" "${dir}/usr/bin/promtool" # atomic: concurrent runs are safe
    local rc=$?
    rm -rf "${tmp}"
    ((rc == 0)) || return 1
  fi
  echo "${dir}/usr/bin/promtool"
}

# Each installer runs in the background with its output in a log (shown on failure) and prints
# the installed path as its last line. Builds and downloads overlap; the module cache is shared
# safely (the go command locks it).
setup_tools() {
  need "${GO}" "Go toolchain, e.g. /usr/local/go/bin/go" || return 1
  need python3 "for the Kubernetes schemas" || return 1
  need npm "Node.js, for the prometheus-operator schemas and the Dockerfile linter" || return 1
  echo "tools cache: ${TOOLS} ($("${GO}" version))"
  mkdir -p "${TOOLS}"
  local job pids=() names=(helm kubeconform deploycheck node schemas promtool) rc=0
  install_go_tool helm "${HELM_VERSION}" helm.sh/helm/v3/cmd/helm > "${WORK}/helm.out" 2> "${WORK}/helm.log" &
  pids+=($!)
  install_go_tool kubeconform "${KUBECONFORM_VERSION}" github.com/yannh/kubeconform/cmd/kubeconform \
    > "${WORK}/kubeconform.out" 2> "${WORK}/kubeconform.log" &
  pids+=($!)
  build_deploycheck > "${WORK}/deploycheck.out" 2> "${WORK}/deploycheck.log" &
  pids+=($!)
  install_node_tools > "${WORK}/node.out" 2> "${WORK}/node.log" &
  pids+=($!)
  install_k8s_schemas > "${WORK}/schemas.out" 2> "${WORK}/schemas.log" &
  pids+=($!)
  install_promtool > "${WORK}/promtool.out" 2> "${WORK}/promtool.log" &
  pids+=($!)
  for job in "${!pids[@]}"; do
    if ! wait "${pids[${job}]}"; then
      echo "-- installing ${names[${job}]} failed:" >&2
      grep -v '^go: downloading' "${WORK}/${names[${job}]}.log" >&2
      rc=1
    fi
  done
  ((rc == 0)) || return 1
  grep -hv '^go: downloading' "${WORK}"/{helm,kubeconform,deploycheck,node,schemas,promtool}.log || true
  HELM="$(tail -n1 "${WORK}/helm.out")"
  KUBECONFORM="$(tail -n1 "${WORK}/kubeconform.out")"
  DEPLOYCHECK="$(tail -n1 "${WORK}/deploycheck.out")"
  NODE_TOOLS="$(tail -n1 "${WORK}/node.out")"
  SCHEMAS="$(tail -n1 "${WORK}/schemas.out")"
  PROMTOOL="$(tail -n1 "${WORK}/promtool.out")"
  echo "helm $("${HELM}" version --short), kubeconform ${KUBECONFORM_VERSION}, schemas ${SCHEMAS}"
  echo "promtool ${PROMTOOL}: $("${PROMTOOL}" --version 2>&1 | head -n1)"
}

# ------------------------------------------------------------------------------------- checks

helm_lint() {
  local kv="${KUBE_VERSIONS[-1]}"
  "${HELM}" lint --strict --kube-version "${kv}" "${CHART}" &&
    "${HELM}" lint --strict --kube-version "${kv}" "${CHART}" -f "${CHART_CI_VALUES}"
}

helm_render() {
  local kv="${KUBE_VERSIONS[-1]}"
  "${HELM}" template seatmeter "${CHART}" --namespace seatmeter --kube-version "${kv}" \
    > "${WORK}/default.yaml" &&
    "${HELM}" template seatmeter "${CHART}" --namespace seatmeter --kube-version "${kv}" \
      -f "${CHART_CI_VALUES}" > "${WORK}/all-features.yaml" &&
    grep -h '^kind:' "${WORK}/default.yaml" "${WORK}/all-features.yaml" | sort | uniq -c
}

kubeconform_all() {
  local v rc=0
  [[ -s "${WORK}/default.yaml" && -s "${WORK}/all-features.yaml" ]] || { echo "nothing rendered" >&2; return 1; }
  for v in "${KUBE_VERSIONS[@]}"; do
    echo "-- Kubernetes ${v}"
    # No schema exists for the prometheus-operator CRDs here; the next two steps validate them.
    "${KUBECONFORM}" -strict -summary -kubernetes-version "${v}" \
      -schema-location "${SCHEMAS}/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      -skip ServiceMonitor,PrometheusRule \
      "${WORK}/default.yaml" "${WORK}/all-features.yaml" || rc=1
  done
  return "${rc}"
}

crd_types() {
  "${DEPLOYCHECK}" crd "${WORK}/default.yaml" "${WORK}/all-features.yaml"
}

crd_schemas() {
  (cd "${NODE_TOOLS}" && node crd-validate.mjs "${WORK}/default.yaml" "${WORK}/all-features.yaml")
}

compose_spec() {
  "${DEPLOYCHECK}" compose -f "${ROOT}/deploy/docker-compose.yml" \
    --env-file "${ROOT}/deploy/.env.example" --scalable worker -o "${WORK}/compose.resolved.yml" \
    --env-out "${WORK}/compose.env.json"
}

compose_cli() {
  if docker compose version > /dev/null 2>&1; then
    docker compose -f "${ROOT}/deploy/docker-compose.yml" --env-file "${ROOT}/deploy/.env.example" \
      --profile demo config --quiet
  else
    echo "SKIP: the docker compose plugin is not installed (compose-go above did the same loading)"
  fi
}

dockerfile_lint() {
  "${NODE_TOOLS}/node_modules/.bin/dockerfile-utils" lint "${ROOT}/deploy/Dockerfile" &&
    echo "deploy/Dockerfile: no problems"
}

prometheus_files() {
  "${DEPLOYCHECK}" prom --config "${ROOT}/deploy/prometheus/prometheus.yml" \
    --rules "${ROOT}/deploy/prometheus/rules" --dashboards "${ROOT}/deploy/grafana/dashboards"
}

promtool_rules() {
  local rules=() tests=()
  mapfile -t rules < <(find "${ROOT}/deploy/prometheus/rules" -maxdepth 1 -name '*.yml' | sort)
  mapfile -t tests < <(find "${ROOT}/deploy/prometheus/rules/tests" -name '*.yaml' | sort)
  ((${#rules[@]} && ${#tests[@]})) || { echo "no rule files or no rule tests" >&2; return 1; }
  "${PROMTOOL}" check rules "${rules[@]}" && "${PROMTOOL}" test rules "${tests[@]}"
}

settings_env() {
  if [[ ! -x "${ROOT}/.venv/bin/python" ]]; then
    echo "SKIP: no .venv (run \`make setup\`)"
    return 0
  fi
  "${DEPLOYCHECK}" k8s-env "${WORK}/default.yaml" "${WORK}/all-features.yaml" > "${WORK}/k8s.env.json" &&
    [[ -s "${WORK}/compose.env.json" ]] &&
    PYTHONPATH="${ROOT}" "${ROOT}/.venv/bin/python" "${TOOLS_SRC}/check_settings.py" \
      "${WORK}/compose.env.json" "${WORK}/k8s.env.json"
}

dashboard_queries() {
  if [[ -x "${ROOT}/.venv/bin/pytest" ]]; then
    (cd "${ROOT}" && .venv/bin/pytest -q -p no:cacheprovider tests/integration/test_dashboards.py)
  else
    echo "SKIP: no .venv (run \`make setup\`); the test suite runs this as well"
  fi
}

# ------------------------------------------------------------------------------------- main

if [[ "${1:-}" == promtool ]]; then
  mkdir -p "${TOOLS}"
  install_promtool
  exit
fi

TOTAL_START="$(ts)"
step "tools" setup_tools
if ((${#FAILED[@]})); then
  echo "tools could not be installed; nothing else can run" >&2
  exit 1
fi
step "helm lint --strict" helm_lint
step "helm template (default + all-features values)" helm_render
step "kubeconform -strict (Kubernetes ${KUBE_VERSIONS[*]})" kubeconform_all
step "prometheus-operator objects: Go types + rule validation" crd_types
step "prometheus-operator objects: JSON schemas (npm)" crd_schemas
step "compose file (compose-go)" compose_spec
step "compose file (docker compose config)" compose_cli
step "Prometheus config, rules, dashboard PromQL" prometheus_files
step "Prometheus rules: promtool check rules + test rules" promtool_rules
step "Dockerfile syntax (dockerfile-utils)" dockerfile_lint
step "SEATMETER_* environment vs the settings model" settings_env
step "dashboard ClickHouse queries (pytest)" dashboard_queries

echo
if ((${#FAILED[@]})); then
  printf '\033[31m%d check(s) failed:\033[0m\n' "${#FAILED[@]}"
  printf '  - %s\n' "${FAILED[@]}"
  echo "total $(elapsed "${TOTAL_START}")"
  exit 1
fi
printf '\033[32mall deploy checks passed\033[0m (total %s)\n' "$(elapsed "${TOTAL_START}")"
