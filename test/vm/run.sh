#!/usr/bin/env bash
# test/vm/run.sh — run pocketdock's root integration tests as root in a
# throw-away qemu VM whose only cgroup hierarchy is cgroup v2.
#
#   test/vm/run.sh TEST_BINARY CLI_BINARY FIXTURES_DIR [TEST_ARGS...]
#
# TEST_BINARY is the test/ package built static with `go test -c`, CLI_BINARY
# the static bin/pocketdock, FIXTURES_DIR holds busybox.tar and
# minimal-python.tar; TEST_ARGS go to the test binary (-test.run ...).
# `make vm-test` calls this. Exit status: the test binary's, 124 when the VM
# timed out, 125 when the VM gave no result.
#
# The kernel is Debian's linux-image-amd64 (apt-get download + dpkg -x, nothing
# installed); the root is a busybox-static initramfs with the kernel modules
# the runtime needs (test/vm/init is its PID 1). Both are cached in VM_CACHE,
# so a rerun only boots. The binaries and fixtures reach the VM read-only over
# 9p; the output and the exit code come back over the serial console.
#
# Environment: VM_CACHE (default /var/cache/pocketdock/vm), VM_ACCEL (kvm or
# tcg; default kvm when /dev/kvm is usable and the CPU has vmx/svm, else tcg),
# VM_MEM (MiB, 2048), VM_SMP (2), VM_TIMEOUT (whole VM, seconds, 1500),
# VM_NICE (niceness of qemu, 10).
set -euo pipefail

die() { echo "vm-test: $*" >&2; exit 125; }
[ $# -ge 3 ] || die "usage: $0 TEST_BINARY CLI_BINARY FIXTURES_DIR [TEST_ARGS...]"
TESTBIN=$1 CLI=$2 FIXTURES=$(readlink -f "$3")
shift 3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VM_CACHE:-/var/cache/pocketdock/vm}
for f in "$TESTBIN" "$CLI" "$FIXTURES/busybox.tar" "$FIXTURES/minimal-python.tar"; do
	[ -e "$f" ] || die "$f: not found"
done
for t in qemu-system-x86_64 cpio depmod modprobe apt-get dpkg; do
	command -v "$t" >/dev/null || die "$t not found; sudo make vm-test installs the packages it needs"
done
file -L /bin/busybox | grep -q 'statically linked' || die "/bin/busybox is not static; install busybox-static"
[ "$(id -u)" = 0 ] || die "must run as root (the cache in /var/cache, chroot to install busybox)"

# Modules loaded at boot (virtio + 9p to reach the shares, overlay for the
# image store, fuse for a /dev/fuse to pass through); the rest are copied
# too and auto-loaded by the kernel on first use through busybox modprobe,
# as on a normal host.
BOOT_MODULES="virtio_pci virtio_rng 9pnet_virtio 9p overlay fuse"
MODULES="$BOOT_MODULES veth bridge br_netfilter nf_tables nft_chain_nat nft_nat nft_masq nft_ct"
MODULE_GLOBS="net/netfilter/nf*.ko* net/ipv4/netfilter/nf*.ko* net/ipv6/netfilter/nf*.ko*"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # one build of the cache at a time; released before the VM boots

# --- kernel: the package linux-image-amd64 depends on, unpacked into the cache
kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
PKG=$(kpkg)
[ -n "$PKG" ] || { apt-get -q update >&2; PKG=$(kpkg); }
[ -n "$PKG" ] || die "apt-cache cannot resolve linux-image-amd64"
KDIR=$CACHE/kernel/$PKG
if [ ! -e "$KDIR/.done" ]; then
	echo "vm-test: fetching $PKG into $KDIR" >&2
	rm -rf "$CACHE/kernel"
	mkdir -p "$KDIR"
	(cd "$KDIR" && apt-get -q -o APT::Sandbox::User=root download "$PKG" >&2)
	dpkg -x "$KDIR"/*.deb "$KDIR/x"
	rm -f "$KDIR"/*.deb
	depmod -b "$KDIR/x" "$(ls "$KDIR/x/lib/modules")"
	touch "$KDIR/.done"
fi
KVER=$(ls "$KDIR/x/lib/modules")
KERNEL=$KDIR/x/boot/vmlinuz-$KVER
MODDIR=$KDIR/x/lib/modules/$KVER

# --- initramfs: busybox, the modules (with their dependencies), init
KEY=$(cat "${BASH_SOURCE[0]}" "$HERE/init" /bin/busybox | sha256sum | cut -c1-12)
INITRD=$CACHE/initramfs-$KVER-$KEY.cpio
if [ ! -s "$INITRD" ]; then
	echo "vm-test: building $INITRD" >&2
	ST=$(mktemp -d "$CACHE/stage.XXXXXX")
	trap 'rm -rf "$ST"' EXIT
	mkdir -p "$ST"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,mnt}
	cp /bin/busybox "$ST/bin/busybox"
	chroot "$ST" /bin/busybox --install -s
	cp "$HERE/init" "$ST/init"
	chmod 755 "$ST/init"
	printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ST/etc/passwd"
	printf 'root:x:0:\ntty:x:5:\ndialout:x:20:\n' > "$ST/etc/group" # Debian's GIDs
	echo "$BOOT_MODULES" | tr ' ' '\n' > "$ST/etc/vm-test.modules"
	names=$MODULES
	for g in $MODULE_GLOBS; do
		for f in "$MODDIR"/kernel/$g; do [ -e "$f" ] && names="$names $(basename "${f%%.ko*}")"; done
	done
	for m in $names; do
		modprobe -d "$KDIR/x" -S "$KVER" --show-depends "$m" || die "module $m not in $PKG"
	done | awk '$1 == "insmod" { print $2 }' | sort -u | while read -r ko; do
		rel=${ko#"$KDIR/x/"}
		mkdir -p "$ST/$(dirname "$rel")"
		cp "$ko" "$ST/$rel"
	done
	cp "$MODDIR"/modules.{builtin,builtin.modinfo,order} "$ST/lib/modules/$KVER/"
	depmod -b "$ST" "$KVER"
	(cd "$ST" && find . -mindepth 1 | cpio -o -H newc --quiet) > "$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD"
	find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio' ! -path "$INITRD" -delete
	rm -rf "$ST"
	trap - EXIT
fi

# --- this run: binaries and arguments in a directory shared over 9p
RUN=$(mktemp -d "$CACHE/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
flock -u 9
mkdir "$RUN/in"
cp "$TESTBIN" "$RUN/in/pocketdock.test"
cp "$CLI" "$RUN/in/pocketdock"
printf '%s\n' "$@" > "$RUN/in/args"

ACCEL=${VM_ACCEL:-}
if [ -z "$ACCEL" ]; then
	# /dev/kvm alone is not enough: nested setups without vmx/svm expose a
	# /dev/kvm that cannot run an ordinary guest kernel.
	if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; else ACCEL=tcg; fi
fi
CPU=max
[ "$ACCEL" = kvm ] && CPU=host
echo "vm-test: booting $PKG ($ACCEL, ${VM_SMP:-2} vCPUs, ${VM_MEM:-2048} MiB) with cgroup v1 disabled" >&2
start=$SECONDS
set +e
timeout -k 10 "${VM_TIMEOUT:-1500}" nice -n "${VM_NICE:-10}" \
	qemu-system-x86_64 -nographic -no-reboot -accel "$ACCEL" -cpu "$CPU" \
	-smp "${VM_SMP:-2}" -m "${VM_MEM:-2048}" -kernel "$KERNEL" -initrd "$INITRD" \
	-append "console=ttyS0 quiet loglevel=4 panic=-1 cgroup_no_v1=all random.trust_cpu=on mitigations=off" \
	-nic none -device virtio-rng-pci \
	-virtfs "local,path=$RUN/in,mount_tag=in,security_model=none,readonly=on" \
	-virtfs "local,path=$FIXTURES,mount_tag=fixtures,security_model=none,readonly=on" \
	< /dev/null | sed -u 's/\r$//; s/\x1b\(\[[0-9;?]*[a-zA-Z]\|c\)//g' | tee "$RUN/console.log"
qrc=${PIPESTATUS[0]}
set -e
cp "$RUN/console.log" "$CACHE/last-console.log"
rc=$(sed -n 's/^@@vm-test rc=\([0-9]*\)$/\1/p' "$RUN/console.log" | tail -n 1)
echo "vm-test: VM wall time $((SECONDS - start)) s; console log in $CACHE/last-console.log" >&2
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "vm-test: the VM timed out after ${VM_TIMEOUT:-1500} s" >&2
	exit 124
fi
[ -n "$rc" ] || die "no result came back from the VM (qemu exit $qrc)"
echo "vm-test: tests exited $rc" >&2
exit "$rc"
