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
#     ports of the config (check_deploy.py compose);
#   - prometheus.yml passes `promtool check config`;
#   - the config loads with rostersync's own loader (rostersync-confdoc
#     --check, with the example tenants);
#   - the Dockerfile passes hadolint and check_deploy.py dockerfile: multi-
#     stage bookworm, built by scripts/install-deps + scripts/build, non-root
#     numeric USER, HEALTHCHECK on /healthz, and every shared library the
#     built binaries need comes from a package the runtime stage installs.
source "$(dirname "$0")/lib.sh"

JV=$DTOOLS/bin/jv
HADOLINT=$DTOOLS/bin/hadolint
SCHEMA=$DTOOLS/schemas/compose-spec.json
need "$JV" "$HADOLINT" promtool /usr/bin/python3 readelf dpkg
[ -f "$SCHEMA" ] || { fail "compose-spec schema missing: $SCHEMA (run scripts/install-deps)"; finish; }
CHECK=(/usr/bin/python3 "$SRC/tests/deploy/check_deploy.py")
D=$SRC/docker

check "compose.yaml validates against compose-spec.json" "$JV" "$SCHEMA" "$D/compose.yaml"

# The same file with one unknown service key must be rejected, or the
# validation above proves nothing.
/usr/bin/python3 - "$D/compose.yaml" "$T_TMP/bad.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read()
assert "\n  worker:\n" in s
open(sys.argv[2], "w").write(s.replace("\n  worker:\n", "\n  worker:\n    replicaz: 3\n", 1))
PY
check "a compose file with an unknown key is rejected" bash -c "! '$JV' '$SCHEMA' '$T_TMP/bad.yaml'"

check "prometheus.yml: promtool check config" promtool check config "$D/prometheus.yml"

conf_ok() {
	"$BIN/rostersync-confdoc" --check "$D/config/rostersync.conf" \
		-X "tenants_dir=$SRC/config/tenants.d" &&
	"$BIN/rostersync-confdoc" --dump "$D/config/rostersync.conf" \
		-X "tenants_dir=$SRC/config/tenants.d" >"$T_TMP/dump.conf"
}
check "docker/config/rostersync.conf loads (rostersync-confdoc --check)" conf_ok
check "compose structure agrees with the config and prometheus.yml" \
	"${CHECK[@]}" compose "$D/compose.yaml" "$D/prometheus.yml" "$T_TMP/dump.conf"

check "Dockerfile: hadolint" "$HADOLINT" --no-color "$D/Dockerfile"
check "Dockerfile: stages, user, healthcheck, runtime libraries" \
	"${CHECK[@]}" dockerfile "$D/Dockerfile" "$BIN/producer/rostersync-planner" \
	"$BIN/worker/rostersync-worker" "$BIN/sim/rostersync-sim"
# The HEALTHCHECK's default port is the worker's (the image's default CMD).
wport=$("${CHECK[@]}" conf-get "$T_TMP/dump.conf" worker.metrics_listen)
check "Dockerfile RS_METRICS_PORT default = worker.metrics_listen port (${wport##*:})" \
	grep -Eq "RS_METRICS_PORT=${wport##*:}\b" "$D/Dockerfile"
finish
