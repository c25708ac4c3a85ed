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

need prometheus promtool curl /usr/bin/python3
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

# jget PATH PYEXPR: GETs the API path and evaluates PYEXPR on the decoded
# JSON `d`; prints the result.
jget() {
	curl -fsS -G "$P$1" ${3:+--data-urlencode "$3"} |
		/usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}
targets_up() {
	local i h
	for i in $(seq 1 100); do
		h=$(jget /api/v1/targets \
			'" ".join(sorted(t["labels"]["job"]+"="+t["health"] for t in d["data"]["activeTargets"]))' \
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
			'd["data"]["result"][0]["value"][1] if d["status"]=="success" and d["data"]["result"] else ""' \
			"query=$1" 2>/dev/null || true)
		[ -n "$v" ] && { echo "$v"; return 0; }
		sleep 0.2
	done
	return 1
}
py() { /usr/bin/python3 -c "import sys; sys.exit(0 if ($1) else 1)"; }

v=$(value 'up{job="rostersync-planner"}')
check "up{job=rostersync-planner} == 1 (got $v)" py "'$v' == '1'"
v=$(value 'up{job="rostersync-worker"}')
check "up{job=rostersync-worker} == 1 (got $v)" py "'$v' == '1'"
v=$(value 'rostersync_planner_cycles_total{result="ok"}')
check "rostersync_planner_cycles_total{result=ok} >= 1 (got $v)" py "float('${v:-0}') >= 1"

# Counters only grow: wait until Prometheus's sum equals the worker's own
# figure (the planner may publish again, so re-read both each time).
applied_match() {
	local i pv wv
	for i in $(seq 1 50); do
		pv=$(value 'sum(rostersync_jobs_total{outcome="applied"})' || true)
		wv=$(curl -fsS "http://127.0.0.1:$WORKER_PORT/metrics" |
			awk '/^rostersync_jobs_total\{.*outcome="applied"/ {s += $NF} END {print s + 0}')
		if [ -n "$pv" ] && py "float('$pv') > 0 and float('$pv') == float('$wv')"; then
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
