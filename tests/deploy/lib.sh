# tests/deploy/lib.sh - shared by the tests/deploy/06NN-*.sh scripts
# (deployments and observability, docs/deploy.md).  Sourced, not run.
#
# A test: `source lib.sh`, then check/ok/fail calls, then `finish`, which
# prints the house closing line "N passed, N failed" and exits 0 only when
# nothing failed.  A missing tool is a failure (never a skip): run
# scripts/install-deps, which installs every tool these tests use.
set -uo pipefail

SRC=${RS_SOURCE_DIR:?RS_SOURCE_DIR is not set (run through ctest)}
BIN=${RS_BINARY_DIR:?RS_BINARY_DIR is not set (run through ctest)}
DTOOLS=${RS_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/rostersync/deploy-tools}
# The structural checks (tests/deploy/check_deploy.c, a test tool CMake
# builds) read YAML through the pinned Go yq in $DTOOLS (never a yq on PATH:
# Debian's is a different program).
CHECK_DEPLOY=${RS_CHECK_DEPLOY:-check_deploy}
export RS_YQ=$DTOOLS/bin/yq
T_PASSED=0
T_FAILED=0
T_NAME=$(basename "$0" .sh)
# Every test owns a scratch directory in the build tree, removed at exit
# unless RS_TEST_KEEP is set (then its path is printed).
T_TMP=$(mktemp -d "$BIN/${T_NAME}.XXXXXX")
T_PIDS=()

cleanup() {
	local p
	for p in "${T_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${T_PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ -n "${RS_TEST_KEEP:-}" ]; then
		echo "kept $T_TMP"
	else
		rm -rf "$T_TMP"
	fi
}
trap cleanup EXIT

ok() { T_PASSED=$((T_PASSED + 1)); echo "ok   - $*"; }
fail() { T_FAILED=$((T_FAILED + 1)); echo "FAIL - $*"; }

# check NAME CMD...: runs CMD; passes on exit 0.  Output is shown only on
# failure, so a green run stays short.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$name"
	else
		fail "$name"
		printf '%s\n' "$out" | sed 's/^/     | /' | head -n 60
	fi
}

# rejects PATTERN CMD...: passes when CMD fails AND its output has a line
# matching the extended regex PATTERN (it failed for the reason the test
# names, not another one).  For the negative cases.
rejects() {
	local pat=$1 out
	shift
	if out=$("$@" 2>&1); then
		printf 'accepted:\n%s\n' "$out"
		return 1
	fi
	printf '%s\n' "$out"
	grep -Eq -- "$pat" <<<"$out"
}

# need TOOL...: each must be an executable (path or on PATH), else the test
# fails at once: these tests never skip.
need() {
	local t
	for t in "$@"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			fail "required tool '$t' is missing (run scripts/install-deps)"
			finish
		fi
	done
}

finish() {
	echo "$T_PASSED passed, $T_FAILED failed"
	[ "$T_FAILED" -eq 0 ] && [ "$T_PASSED" -gt 0 ]
	exit $?
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now: random
# ports of 20000-32767 (below Linux's ephemeral range, so no outgoing
# connection holds one) until a connect is refused.  The small race with
# other processes is acceptable in tests that start their listener right
# after.  Bash only: /dev/tcp is bash's own redirection.
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 12768))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# wait_http URL SECONDS: polls until URL answers 2xx.
wait_http() {
	local url=$1 n=$(($2 * 10))
	while [ "$n" -gt 0 ]; do
		curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# start_sim GEN: starts rostersync-sim on an ephemeral loopback port with a
# generated dataset, writes its config to $T_TMP/config; sets SIM_URL.
start_sim() {
	local i
	"$BIN/sim/rostersync-sim" --port 0 --generate "$1" \
		--print-config "$T_TMP/config" >"$T_TMP/sim.out" 2>"$T_TMP/sim.log" &
	T_PIDS+=($!)
	for i in $(seq 1 100); do
		grep -q 'listening on' "$T_TMP/sim.out" 2>/dev/null && break
		sleep 0.1
	done
	SIM_URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$T_TMP/sim.out")
	[ -n "$SIM_URL" ]
}

# bg LOG CMD...: runs CMD in the background, logging to LOG; killed at exit.
bg() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	T_PIDS+=($!)
}

# start_stack: the simulator with a small generated MSP, a planner in loop
# mode (publishing to the test broker, RS_KAFKA_BROKERS) and one worker,
# each serving metrics on its own free loopback port.  Topics and the
# consumer group are unique to this run, so tests sharing the broker do not
# see each other's jobs.  Sets PLANNER_PORT, WORKER_PORT.
start_stack() {
	local brokers=${RS_KAFKA_BROKERS:?RS_KAFKA_BROKERS is not set (kafka label)}
	local run="${T_NAME}-$$-"
	start_sim "tenants=3,users=300,queues=6,seed=11" || return 1
	PLANNER_PORT=$(free_port)
	WORKER_PORT=$(free_port)
	local X=(-X "queue.kafka.brokers=$brokers" -X "queue.kafka.topic_prefix=$run"
		-X "queue.kafka.partitions=3" -X "worker.group_id=${run}workers"
		-X "planner.report_dir=$T_TMP/report" -X "planner.audit_dir=$T_TMP/report")
	bg "$T_TMP/planner.log" "$BIN/producer/rostersync-planner" -c "$T_TMP/config/rostersync.conf" \
		--force-removals "${X[@]}" -X planner.interval=10s \
		-X "planner.metrics_listen=127.0.0.1:$PLANNER_PORT"
	bg "$T_TMP/worker.log" "$BIN/worker/rostersync-worker" -c "$T_TMP/config/rostersync.conf" \
		"${X[@]}" -X "worker.metrics_listen=127.0.0.1:$WORKER_PORT"
	wait_http "http://127.0.0.1:$PLANNER_PORT/healthz" 20 &&
		wait_http "http://127.0.0.1:$WORKER_PORT/healthz" 20
}

# wait_metric PORT REGEX SECONDS: polls PORT's /metrics until a sample line
# matches REGEX (e.g. a counter that became non-zero).
wait_metric() {
	local n=$(($3 * 5))
	while [ "$n" -gt 0 ]; do
		curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | grep -Eq "$2" && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}
