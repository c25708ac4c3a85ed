#!/usr/bin/env bash
# 0603-systemd: the units in deploy/systemd pass `systemd-analyze verify`
# with no warning at all, in a scratch root holding the units, the
# system's own unit files and the binaries installed by `cmake --install`
# at the ExecStart paths (so a wrong path or a missing binary fails);
# a unit with a misspelt directive is reported (the check is live);
# and `systemd-analyze security --offline` rates each service's exposure
# at most 2.0 ("OK" on systemd's 0-10 scale).
source "$(dirname "$0")/lib.sh"

need systemd-analyze
U=$SRC/deploy/systemd
R=$T_TMP/root
mkdir -p "$R/etc/systemd/system" "$R/usr/lib/systemd" "$R/usr/local"
cp -a /usr/lib/systemd/system "$R/usr/lib/systemd/"
cp "$U"/*.service "$U"/*.target "$R/etc/systemd/system/"
check "binaries install into the root (cmake --install)" \
	cmake --install "$BIN" --prefix "$R/usr/local"

UNITS=(rostersync-planner.service rostersync-worker@9465.service rostersync.target)
# verify exits 0 on many problems it only warns about: any output fails.
verify_clean() {
	local out
	out=$(systemd-analyze verify --root="$R" "$@" 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
}
check "systemd-analyze verify: ${UNITS[*]}" verify_clean "${UNITS[@]}"

sed 's/^ProtectClock=yes/ProtectClok=yes/' "$U/rostersync-planner.service" \
	>"$R/etc/systemd/system/rostersync-planner.service"
verify_reports() { ! verify_clean "$@" >/dev/null; }
check "a misspelt directive is reported" verify_reports rostersync-planner.service
cp "$U/rostersync-planner.service" "$R/etc/systemd/system/"

for u in rostersync-planner.service rostersync-worker@9465.service; do
	# --threshold is on the 0-100 scale of the score shown as 0.0-10.0.
	check "systemd-analyze security $u: exposure <= 2.0" \
		systemd-analyze security --offline=true --root="$R" --threshold=20 "$u"
done
finish
