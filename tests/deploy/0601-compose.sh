#!/usr/bin/env bash
# 0601-compose: docker/compose.yaml, docker/prometheus.yml, docker/Dockerfile
# and docker/config/rostersync.conf are valid and agree with each other,
# without a Docker engine:
#   - compose.yaml validates against the official compose-spec JSON schema
#     (compose-go's schema/compose-spec.json, validator jv), and a compose
#     file with an unknown key does not (the validator really validates);
#   - references the schema cannot see: named volumes, configs and
#     depends_on targets are declared, config files exist;
#   - structure: Kafka 3.9 in KRaft mode, sim/planner/worker/prometheus,
#     worker replicas 3, config mounted, Prometheus targets = the metrics
#     ports of the config (check_deploy compose); a compose file whose
#     worker health-check port differs from the config is rejected;
#   - prometheus.yml passes `promtool check config`;
#   - the config loads with rostersync's own loader (rostersync-confdoc
#     --check, with the example tenants);
#   - the Dockerfile passes hadolint and check_deploy dockerfile: multi-
#     stage bookworm, built by scripts/install-deps + scripts/build, non-root
#     numeric USER, HEALTHCHECK on /healthz, and every shared library the
#     built binaries need comes from a package the runtime stage installs
#     (a Dockerfile without libmicrohttpd12 is rejected).
source "$(dirname "$0")/lib.sh"

JV=$DTOOLS/bin/jv
HADOLINT=$DTOOLS/bin/hadolint
SCHEMA=$DTOOLS/schemas/compose-spec.json
need "$JV" "$HADOLINT" "$RS_YQ" "$CHECK_DEPLOY" promtool readelf ldd dpkg
[ -f "$SCHEMA" ] || { fail "compose-spec schema missing: $SCHEMA (run scripts/install-deps)"; finish; }
D=$SRC/docker
CONF=("$D/config/rostersync.conf" -X "tenants_dir=$SRC/config/tenants.d")
BINS=("$BIN/producer/rostersync-planner" "$BIN/worker/rostersync-worker" "$BIN/sim/rostersync-sim")

check "compose.yaml validates against compose-spec.json" "$JV" "$SCHEMA" "$D/compose.yaml"

# The same file with one unknown service key must be rejected, or the
# validation above proves nothing.  The mutation is checked to have landed
# (services.worker.replicaz, read back through yq) before it is used.
mutate() { # SRC DST SED-SCRIPT: DST differs from SRC
	sed "$3" "$1" >"$2" && ! cmp -s "$1" "$2"
}
bad_compose() {
	mutate "$D/compose.yaml" "$T_TMP/bad.yaml" '0,/^  worker:$/s//  worker:\n    replicaz: 3/' &&
		[ "$("$RS_YQ" '.services.worker.replicaz' "$T_TMP/bad.yaml")" = 3 ] &&
		rejects 'replicaz' "$JV" "$SCHEMA" "$T_TMP/bad.yaml"
}
check "a compose file with an unknown key (services.worker.replicaz) is rejected" bad_compose

check "prometheus.yml: promtool check config" promtool check config "$D/prometheus.yml"
check "docker/config/rostersync.conf loads (rostersync-confdoc --check)" \
	"$BIN/rostersync-confdoc" --check "${CONF[@]}"
check "compose structure agrees with the config and prometheus.yml" \
	"$CHECK_DEPLOY" compose "$D/compose.yaml" "$D/prometheus.yml" "${CONF[@]}"
# The structure check must bite too: the worker's health check on another
# port than worker.metrics_listen.  The copy sits beside the original's
# files (configs: are relative to the compose file).
mkdir -p "$T_TMP/docker"
cp -r "$D/config" "$D/prometheus.yml" "$T_TMP/docker/"
wrong_port() {
	mutate "$D/compose.yaml" "$T_TMP/docker/compose.yaml" 's/RS_METRICS_PORT: "9465"/RS_METRICS_PORT: "9466"/' &&
		rejects '^problem: worker RS_METRICS_PORT' \
			"$CHECK_DEPLOY" compose "$T_TMP/docker/compose.yaml" "$D/prometheus.yml" "${CONF[@]}"
}
check "a compose file whose worker RS_METRICS_PORT differs from the config is rejected" wrong_port

check "Dockerfile: hadolint" "$HADOLINT" --no-color "$D/Dockerfile"
check "Dockerfile: stages, user, healthcheck, runtime libraries" \
	"$CHECK_DEPLOY" dockerfile "$D/Dockerfile" "${BINS[@]}"
no_mhd() {
	mutate "$D/Dockerfile" "$T_TMP/Dockerfile" 's/ libmicrohttpd12 / /' &&
		rejects '^problem: rostersync-worker needs libmicrohttpd.so.12 from libmicrohttpd12' \
			"$CHECK_DEPLOY" dockerfile "$T_TMP/Dockerfile" "${BINS[@]}"
}
check "a Dockerfile whose runtime stage lacks libmicrohttpd12 is rejected" no_mhd
# The HEALTHCHECK's default port is the worker's (the image's default CMD).
wport=$("$CHECK_DEPLOY" conf-get "${CONF[0]}" worker.metrics_listen "${CONF[@]:1}")
check "Dockerfile RS_METRICS_PORT default = worker.metrics_listen port (${wport##*:})" \
	grep -Eq "RS_METRICS_PORT=${wport##*:}\b" "$D/Dockerfile"
finish
