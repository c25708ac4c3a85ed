#!/usr/bin/env bash
# 0604-promtool: the /metrics output of a running planner and a running
# worker passes `promtool check metrics` (Prometheus's own exposition-format
# parser and naming linter: counters end in _total, units are base units,
# HELP present, no reserved labels), taken after real work went through
# them (simulator -> planner -> real Kafka broker -> worker -> simulator),
# so the labelled series (outcome, tenant, kind, target, status, result,
# action) are in the output, not only empty families; the worker's
# rostersync_worker_consumer_lag has a series per partition.  Also: /healthz
# answers 200 on both, the worker's /readyz is 200 while it consumes (the
# planner's 200 or 503, never anything else),
# and a non-metrics path is a 404.
source "$(dirname "$0")/lib.sh"

need promtool curl
# Not through check: start_stack sets variables and records the pids to
# stop, which a subshell would lose.
if start_stack >"$T_TMP/start.log" 2>&1; then
	ok "stack started (sim, planner, worker)"
else
	fail "stack started (sim, planner, worker)"
	tail -n 20 "$T_TMP"/*.log
	finish
fi
check "planner finished a cycle" \
	wait_metric "$PLANNER_PORT" '^rostersync_planner_cycles_total\{result="ok"\} [1-9]' 30
check "worker applied jobs" \
	wait_metric "$WORKER_PORT" '^rostersync_jobs_total\{.*outcome="applied".*\} [1-9]' 60

for role in planner worker; do
	port=PLANNER_PORT
	[ "$role" = worker ] && port=WORKER_PORT
	url=http://127.0.0.1:${!port}
	curl -fsS "$url/metrics" >"$T_TMP/$role.prom" 2>"$T_TMP/$role.err"
	check "$role /metrics has labelled series" grep -Eq '^rostersync_[a-z_]+\{[a-z_]+="' "$T_TMP/$role.prom"
	check "$role /metrics: promtool check metrics" bash -c "promtool check metrics < '$T_TMP/$role.prom'"
	if [ "$role" = worker ]; then
		# One series per assigned partition, a whole number >= 0.
		check "worker /metrics has rostersync_worker_consumer_lag per partition" \
			grep -Eq '^rostersync_worker_consumer_lag\{topic="[^"]+",partition="[0-9]+"\} [0-9]+$' "$T_TMP/$role.prom"
	fi
	check "$role /healthz is 200" curl -fsS -o /dev/null "$url/healthz"
	code=$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")
	if [ "$role" = worker ]; then
		# The worker is ready exactly while its poll loop consumes.
		check "worker /readyz is 200 while consuming (got $code)" test "$code" = 200
	else
		check "$role /readyz is 200 or 503 (got $code)" test "$code" = 200 -o "$code" = 503
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' "$url/nope")
	check "$role unknown path is 404 (got $code)" test "$code" = 404
done
finish
