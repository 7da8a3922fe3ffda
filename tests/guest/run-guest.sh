#!/usr/bin/env bash
# Boots the guest from make-guest.sh with PAYLOAD_DIR as /test (its run.sh runs as the guest's
# only job) and prints the serial console. No network backend: the guest has no NIC at all.
# Usage: run-guest.sh CACHE_DIR PAYLOAD_DIR. Bounded: the guest is killed after
# $HOSTNET_GUEST_TIMEOUT seconds (default 240).
set -euo pipefail
cache=$1
payload=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$cache/root" "$work/root"
cp -a "$payload/." "$work/root/test/"
(cd "$work/root" && find . | cpio -o -H newc --quiet) > "$work/initrd.cpio"
accel=(-accel tcg)
if [ -n "${HOSTNET_GUEST_KVM:-}" ] && [ -w /dev/kvm ]; then
    accel=(-accel kvm -accel tcg)
fi
timeout "${HOSTNET_GUEST_TIMEOUT:-240}" qemu-system-x86_64 "${accel[@]}" -m 512 -smp 1 -nographic -no-reboot -nic none \
    -kernel "$cache/vmlinuz" -initrd "$work/initrd.cpio" \
    -append "console=ttyS0 panic=-1 quiet rdinit=/init" </dev/null
