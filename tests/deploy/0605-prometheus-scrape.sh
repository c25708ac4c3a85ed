#!/usr/bin/env bash
# 0605-prometheus-scrape: a real Prometheus server (Debian's prometheus
# 2.42) scrapes a running planner and worker, and its HTTP API shows it:
#   - /api/v1/targets: both targets active with health "up" (Prometheus
#     parsed the exposition and found the endpoints where the config says);
#   - /api/v1/query: up{job=...} == 1 for both jobs; the planner's
#     rostersync_planner_cycles_total{result="ok"} >= 1; the sum of the
#     worker's rostersync_jobs_total{outcome="applied"} > 0 and not above
#     what the worker's own /metrics shows (Prometheus holds the value the
#     worker exported, not something else).
# Everything runs on loopback ports picked at run time, with a tiny
# Prometheus config and TSDB in the test's scratch directory.
source "$(dirname "$0")/lib.sh"

need prometheus promtool curl jq awk
if start_stack >"$T_TMP/start.log" 2>&1; then
	ok "stack started (sim, planner, worker)"
else
	fail "stack started (sim, planner, worker)"
	tail -n 20 "$T_TMP"/*.log
	finish
fi

PROM_PORT=$(free_port)
cat >"$T_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: rostersync-planner
    static_configs:
      - targets: ["127.0.0.1:$PLANNER_PORT"]
  - job_name: rostersync-worker
    static_configs:
      - targets: ["127.0.0.1:$WORKER_PORT"]
YML
check "test prometheus.yml: promtool check config" promtool check config "$T_TMP/prometheus.yml"
bg "$T_TMP/prometheus.log" prometheus --config.file="$T_TMP/prometheus.yml" \
	--storage.tsdb.path="$T_TMP/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT" \
	--web.console.templates="$T_TMP" --web.console.libraries="$T_TMP"
P=http://127.0.0.1:$PROM_PORT
check "prometheus is ready" wait_http "$P/-/ready" 30

check "worker applied jobs" \
	wait_metric "$WORKER_PORT" '^rostersync_jobs_total\{.*outcome="applied".*\} [1-9]' 60

# jget PATH JQ [PARAM]: GETs the API path (with the url-encoded PARAM) and
# prints the result of the jq filter JQ on the JSON answer.
jget() {
	curl -fsS -G "$P$1" ${3:+--data-urlencode "$3"} | jq -r "$2"
}
targets_up() {
	local i h
	for i in $(seq 1 100); do
		h=$(jget /api/v1/targets \
			'[.data.activeTargets[] | .labels.job + "=" + .health] | sort | join(" ")' \
			state=active 2>/dev/null || true)
		[ "$h" = "rostersync-planner=up rostersync-worker=up" ] && return 0
		sleep 0.2
	done
	echo "targets: $h"
	return 1
}
check "/api/v1/targets: planner and worker health up" targets_up

# value QUERY: the single instant-vector value of QUERY, retried until
# Prometheus has a sample (the first scrapes can still be in flight).
value() {
	local i v
	for i in $(seq 1 50); do
		v=$(jget /api/v1/query \
			'if .status == "success" and (.data.result | length) > 0 then .data.result[0].value[1] else "" end' \
			"query=$1" 2>/dev/null || true)
		[ -n "$v" ] && { echo "$v"; return 0; }
		sleep 0.2
	done
	return 1
}
# num A OP B: numeric comparison of two sample values (floats in Prometheus's
# text, e.g. "3" or "1.5e+02"); an empty value counts as 0.
num() { awk -v a="$1" -v b="$3" "BEGIN { exit !((a + 0) $2 (b + 0)) }"; }

v=$(value 'up{job="rostersync-planner"}')
check "up{job=rostersync-planner} == 1 (got $v)" test "$v" = 1
v=$(value 'up{job="rostersync-worker"}')
check "up{job=rostersync-worker} == 1 (got $v)" test "$v" = 1
v=$(value 'rostersync_planner_cycles_total{result="ok"}')
check "rostersync_planner_cycles_total{result=ok} >= 1 (got $v)" num "$v" ">=" 1

# Counters only grow: wait until Prometheus's sum equals the worker's own
# figure (the planner may publish again, so re-read both each time).
applied_match() {
	local i pv wv
	for i in $(seq 1 50); do
		pv=$(value 'sum(rostersync_jobs_total{outcome="applied"})' || true)
		wv=$(curl -fsS "http://127.0.0.1:$WORKER_PORT/metrics" |
			awk '/^rostersync_jobs_total\{.*outcome="applied"/ {s += $NF} END {print s + 0}')
		if [ -n "$pv" ] && num "$pv" ">" 0 && num "$pv" "==" "$wv"; then
			echo "prometheus $pv = worker $wv"
			return 0
		fi
		sleep 0.2
	done
	echo "prometheus ${pv:-none}, worker $wv"
	return 1
}
check "sum(rostersync_jobs_total{outcome=applied}) in Prometheus = the worker's /metrics, > 0" applied_match
finish
