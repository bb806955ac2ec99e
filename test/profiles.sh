#!/usr/bin/env bash
# make profiles: build the six profile images with bin/pocketdock into the
# state root ($POCKETDOCK_ROOT, else /var/lib/pocketdock) and print each
# image's size and build time. FROM debian:bookworm-slim comes from the local
# store; when it is missing, test/fixtures/out/debian-base.tar (tagged so) is
# imported first. RUN steps reach the Debian mirror (and ADD the npm registry).
# PROFILES="minimal-python dev" limits the list.
set -euo pipefail
cd "$(dirname "$0")/.."
PD=${PD:-bin/pocketdock}
PROFILES=${PROFILES:-minimal-python minimal-node minimal-bun dev agent embedded}
BASE=docker.io/library/debian:bookworm-slim
FIXTURE=test/fixtures/out/debian-base.tar

echo "profiles: state root ${POCKETDOCK_ROOT:-/var/lib/pocketdock (default)}"
if ! "$PD" images | awk 'NR > 1 { print $1 }' | tr ',' '\n' | grep -qx "$BASE"; then
	echo "profiles: $BASE is not in the store: importing $FIXTURE"
	"$PD" import "$FIXTURE"
fi

declare -A secs
for p in $PROFILES; do
	echo "profiles: building $p"
	start=$(date +%s.%N)
	"$PD" build "$p" >/dev/null
	end=$(date +%s.%N)
	secs[$p]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
done

echo
printf '%-16s %-12s %-10s %s\n' PROFILE SIZE "BUILD (s)" IMAGE
list=$("$PD" images)
for p in $PROFILES; do
	tag=docker.io/pocketdock/$p:latest
	row=$(awk -v t="$tag" 'NR > 1 { n = split($1, a, ","); for (i = 1; i <= n; i++) if (a[i] == t) { print $2, $3; exit } }' <<<"$list")
	printf '%-16s %-12s %-10s %s\n' "$p" "${row#* }" "${secs[$p]}" "${row%% *}"
done
