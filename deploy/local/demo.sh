#!/usr/bin/env bash
# `make run`: a worker and a simulated fleet on the local broker, into a fresh embedded warehouse.
# Each run uses its own topic, consumer group and warehouse folder, so runs never mix.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

run_id=$(date +%Y%m%d%H%M%S)
state=.seatmeter/demo
rm -rf "$state"
mkdir -p "$state"
export SEATMETER_KAFKA__AGENT_TOPIC="seatmeter.demo-${run_id}.agent-usage"
export SEATMETER_WORKER__APP_ID="seatmeter-demo-${run_id}"
export SEATMETER_WORKER__DATA_DIR="$state/worker"
export SEATMETER_WAREHOUSE__URL="chdb://$PWD/$state/warehouse"
export SEATMETER_PRIVACY__PSEUDONYM_KEY_FILE="$state/pseudonym.key"
seatmeter=.venv/bin/seatmeter

$seatmeter migrate
$seatmeter worker >"$state/worker.log" 2>&1 &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT

echo "worker started (pid $worker, log $state/worker.log, metrics http://127.0.0.1:9321/metrics)"
$seatmeter import entitlements deploy/local/demo-entitlements.csv
$seatmeter simulate --devices "${DEVICES:-40}" --seed "${SEED:-7}"
echo "waiting for the worker to write everything..."
$seatmeter lag --wait --timeout 300
kill -TERM "$worker"
wait "$worker" || true
trap - EXIT
$seatmeter reports users-per-minute
$seatmeter alerts evaluate
$seatmeter alerts
$seatmeter pools --at busiest
echo "explore: SEATMETER_WAREHOUSE__URL=$SEATMETER_WAREHOUSE__URL $seatmeter sql 'SELECT * FROM product_usage_per_minute LIMIT 10'"
