#!/usr/bin/env bash
# 0602-k8s: the Kubernetes manifests in deploy/k8s are valid and consistent,
# offline:
#   - kubeconform -strict against the Kubernetes 1.34 JSON schemas (from
#     the PyPI wheel kubernetes-validate, made self-contained by
#     scripts/install-deps) and KEDA's ScaledObject schema (converted from
#     the CRD in the Go module github.com/kedacore/keda/v2); a manifest
#     with an unknown field and a ScaledObject with a wrongly typed field
#     are rejected (the schemas really are in use);
#   - each pod's files: the ConfigMaps and projected Secrets are laid out
#     as the pod would see them, and rostersync's own loader accepts the
#     result (rostersync-confdoc --check);
#   - consistency (check_deploy k8s): probe and container ports =
#     metrics_listen, /healthz liveness and /readyz readiness, KEDA trigger
#     = worker.group_id + jobs topic + brokers, its metadata keys, types
#     and enums known to KEDA's kafka scaler (the CRD accepts any string
#     map), max replicas <= partitions,
#     non-root, read-only root fs, resources, one ConfigMap key and one
#     Secret per customer, every file: reference mounted, no inline secret;
#     manifests with a foreign consumerGroup or an inline client_secret
#     are rejected (those checks really bite).
source "$(dirname "$0")/lib.sh"

KC=$DTOOLS/bin/kubeconform
need "$KC" "$RS_YQ" "$CHECK_DEPLOY"
[ -d "$DTOOLS/schemas/k8s/v1.34.0-local-strict" ] && [ -s "$DTOOLS/schemas/crd/keda-kafka-trigger.tags" ] ||
	{ fail "schemas missing in $DTOOLS/schemas (run scripts/install-deps)"; finish; }
K=$SRC/deploy/k8s
kc() {
	"$KC" -strict -summary -output text -kubernetes-version 1.34.0 \
		-schema-location "$DTOOLS/schemas/k8s/{{ .NormalizedKubernetesVersion }}-local-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
		-schema-location "$DTOOLS/schemas/crd/{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json" \
		-skip Kustomization "$@"
}
# Every resource must be validated: none may be skipped for lack of a
# schema, and the count must match the documents in the files.
kc_all() {
	local out n
	out=$(kc "$K") || { echo "$out"; return 1; }
	echo "$out"
	n=$(cat "$K"/*.yaml | grep -c '^kind:')
	echo "$out" | grep -Eq "Valid: $((n - 1)), Invalid: 0, Errors: 0, Skipped: 1"
}
check "kubeconform -strict: every manifest valid (k8s 1.34 + KEDA CRD)" kc_all

mkdir -p "$T_TMP/bad"
sed 's/^\(          imagePullPolicy: IfNotPresent\)$/\1\n          readOnlyRootFS: true/' \
	"$K/worker.yaml" >"$T_TMP/bad/worker.yaml"
sed 's/lagThreshold: "50"/lagThreshold: 50/' "$K/scaledobject-worker.yaml" >"$T_TMP/bad/scaledobject-worker.yaml"
kc_rejects() { # FILE WHAT: kubeconform fails, naming WHAT in an "is invalid" line
	! cmp -s "$1" "$K/${1##*/}" || return 1
	rejects "is invalid.*$2" kc "$1"
}
check "kubeconform rejects an unknown container field" kc_rejects "$T_TMP/bad/worker.yaml" readOnlyRootFS
check "kubeconform rejects a mistyped ScaledObject field" kc_rejects "$T_TMP/bad/scaledobject-worker.yaml" lagThreshold

for role in planner worker; do
	check "$role pod files laid out" "$CHECK_DEPLOY" k8s-fs "$K" "rostersync-$role" "$T_TMP/fs-$role"
	check "$role pod config loads (rostersync-confdoc --check)" \
		"$BIN/rostersync-confdoc" --check "$T_TMP/fs-$role/etc/rostersync/rostersync.conf" \
		-X "tenants_dir=$T_TMP/fs-$role/etc/rostersync/tenants.d"
done
# The config as the worker pod loads it (rostersync's own loader, inside
# check_deploy), against the manifests.
k8s_check() { # K8S_DIR
	"$CHECK_DEPLOY" k8s "$1" "$T_TMP/fs-worker/etc/rostersync/rostersync.conf" \
		"$T_TMP/fs-planner" "$T_TMP/fs-worker" "$DTOOLS/schemas/crd/keda-kafka-trigger.tags" \
		-X "tenants_dir=$T_TMP/fs-worker/etc/rostersync/tenants.d"
}
check "manifests agree with the config (ports, probes, KEDA, security, secrets)" k8s_check "$K"

# ... and the consistency check bites: a copy of the manifests with KEDA
# watching another consumer group, and one with a secret inline in a tenant.
k8s_rejects() { # FILE SED-SCRIPT PATTERN
	rm -rf "$T_TMP/k8s-bad" && cp -r "$K" "$T_TMP/k8s-bad" &&
		sed -i "$2" "$T_TMP/k8s-bad/$1" && ! cmp -s "$K/$1" "$T_TMP/k8s-bad/$1" &&
		rejects "$3" k8s_check "$T_TMP/k8s-bad"
}
check "a ScaledObject watching another consumer group is rejected" k8s_rejects \
	scaledobject-worker.yaml 's/consumerGroup: rostersync-workers/consumerGroup: someone-else/' \
	"^problem: KEDA consumerGroup 'someone-else' != worker.group_id"
check "a tenant with an inline client_secret is rejected" k8s_rejects \
	configmap-tenants.yaml '0,/client_secret = "file:[^"]*"/s//client_secret = "hunter2"/' \
	"^problem: contoso.conf: a secret is inline \\(tenant.graph.client_secret\\)"
finish
