#!/usr/bin/env bash
# After make profiles: a container from each profile image (network none)
# runs as sandbox (uid 1000, in dialout) in /home/sandbox and has its tools.
# Containers are removed afterwards. PROFILES= limits the list.
set -euo pipefail
cd "$(dirname "$0")/.."
PD=${PD:-bin/pocketdock}
PROFILES=${PROFILES:-minimal-python minimal-node minimal-bun dev agent embedded}

declare -A check=(
	[minimal-python]="python3 -c 'print(1)'"
	[minimal-node]="node -e 1 && node --version"
	[minimal-bun]="bun --version"
	[dev]="git --version && gcc --version | head -1 && node --version"
	[agent]="python3 -c 'import requests, httpx, bs4, lxml, pandas, numpy, yaml, toml, PIL; print(\"nine imports ok\")'"
	[embedded]="printf 'volatile int x;\nint main(void) { for (;;) x++; }\n' > m.c && arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os --specs=nosys.specs -o m.elf m.c && arm-none-eabi-size m.elf | tail -1"
)
fail=0
for p in $PROFILES; do
	name=profcheck-$p-$$
	"$PD" create --profile "$p" --network none --name "$name" >/dev/null
	if out=$("$PD" run "$name" -- "echo \"\$(id -un) \$(id -u) \$(id -Gn | tr ' ' ,) \$(pwd)\"; ${check[$p]}" 2>&1); then
		first=$(head -1 <<<"$out")
		case "$first" in
		"sandbox 1000 "*dialout*" /home/sandbox") echo "profiles-check: $p ok: $(tr '\n' ' ' <<<"$out")" ;;
		*) echo "profiles-check: $p: user/cwd wrong: $first" >&2; fail=1 ;;
		esac
	else
		echo "profiles-check: $p FAILED: $out" >&2
		fail=1
	fi
	"$PD" rm "$name" >/dev/null
done
exit $fail
