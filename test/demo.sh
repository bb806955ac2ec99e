#!/usr/bin/env bash
# The main job, end to end: import the fixture image, create a minimal-python
# container, run a shell command and a few lines of Python, show info, shut down.
# Called by `make demo` after the build and the fixtures; uses the default state
# root unless POCKETDOCK_ROOT or POCKETDOCK_DEMO_ROOT is set.
set -euo pipefail
cd "$(dirname "$0")/.."
pd=bin/pocketdock
if [ -n "${POCKETDOCK_DEMO_ROOT:-}" ]; then export POCKETDOCK_ROOT="$POCKETDOCK_DEMO_ROOT"; fi
# Shows each command shell-quoted, so it can be copied and pasted.
step() { printf '\n\033[1m$'; printf ' %q' "$@"; printf '\033[0m\n'; "$@"; }

t0=$(date +%s%N)
step "$pd" import test/fixtures/out/minimal-python.tar
name="demo-$$"
step "$pd" create --name "$name" --pull never
trap '"$pd" rm "$name" >/dev/null 2>&1 || true' EXIT
step "$pd" run "$name" -- echo hello
step "$pd" run --lang python "$name" -- '
import json, platform, subprocess
print("python", platform.python_version(), "on", platform.system())
print(json.dumps({"primes": [n for n in range(2, 30) if all(n % d for d in range(2, n))]}))
print(subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip())'
step "$pd" run "$name" -- sh -c 'echo oops >&2; exit 7' || echo "(exit code $?)"
step "$pd" info "$name"
step "$pd" list
step "$pd" shutdown -y "$name"
trap - EXIT
printf '\ndemo done in %d ms\n' $(( ($(date +%s%N) - t0) / 1000000 ))
