#!/usr/bin/env bash
# Makes a small qemu guest for the tests that need real bond, VLAN and bridge devices (this
# machine's kernel has none): Debian's own kernel package, unpacked (not installed), and an
# initramfs tree of busybox, bash, iproute2, socat, curl, flock, timeout and the bonding, 8021q, bridge, dummy and veth
# modules, and Debian's NetworkManager 1.42 with nmcli, dbus-daemon and busctl for the el8/el9 tests
# (their run.sh starts the system bus and NetworkManager, as systemd would).
# Usage: make-guest.sh CACHE_DIR. Idempotent: a complete CACHE_DIR is left as it is.
set -euo pipefail
cache=$1
# Bumped whenever the tree below changes, so that an older cache is rebuilt.
format=6
[ "$(cat "$cache/complete" 2>/dev/null)" = "$format" ] && exit 0
rm -rf "$cache" "$cache.partial"
mkdir -p "$cache.partial/debs" "$cache.partial/root"
cd "$cache.partial/debs"
# The versioned kernel package the metapackage points at.
apt-get download linux-image-amd64 >/dev/null 2>&1
image=$(dpkg-deb -f linux-image-amd64_*.deb Depends | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
apt-get download "$image" >/dev/null 2>&1
mkdir unpacked
dpkg-deb -x "$image"_*.deb unpacked
cp unpacked/boot/vmlinuz-* ../vmlinuz
release=$(ls unpacked/lib/modules)
root=../root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,var,etc,lib/modules,test}
for module in net/tls/tls.ko net/llc/llc.ko net/802/stp.ko net/802/garp.ko net/802/mrp.ko net/8021q/8021q.ko \
    net/bridge/bridge.ko drivers/net/bonding/bonding.ko drivers/net/dummy.ko drivers/net/veth.ko; do
    cp "unpacked/lib/modules/$release/kernel/$module" "$root/lib/modules/"
done
cp /bin/busybox "$root/bin/busybox"
# Dynamic binaries with the libraries they load.
# util-linux's flock and coreutils' timeout, as EL7 has them (hostnet-apply's lock and bounds).
for binary in /usr/bin/bash /usr/sbin/ip /usr/bin/socat /usr/bin/curl /usr/bin/flock /usr/bin/timeout \
    /usr/sbin/NetworkManager /usr/bin/nmcli /usr/bin/dbus-daemon /usr/bin/busctl; do
    cp "$binary" "$root/bin/"
    for library in $(ldd "$binary" | awk '/=>/ {print $3} !/=>/ && $1 ~ /^\// {print $1}'); do
        mkdir -p "$root$(dirname "$library")"
        cp -L "$library" "$root$library"
    done
done
# Every busybox applet the real binaries above do not provide.
for applet in $(busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
# What NetworkManager and the bus read: root's account, a machine id, NetworkManager's own
# directories, and a system bus that lets root own and call every name (the guest runs as root).
printf 'root:x:0:0:root:/root:/bin/bash\nmessagebus:x:100:101::/run/dbus:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nmessagebus:x:101:\n' > "$root/etc/group"
echo 0123456789abcdef0123456789abcdef > "$root/etc/machine-id"
# GLib's default system bus address is under /var/run.
ln -s ../run "$root/var/run"
mkdir -p "$root/etc/NetworkManager/system-connections" "$root/var/lib/NetworkManager" "$root/usr/share/dbus-1"
cat > "$root/usr/share/dbus-1/system.conf" <<'BUS'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
BUS
cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
ln -s /proc/self/fd /dev/fd
for module in tls llc stp garp mrp 8021q bridge veth; do
    insmod /lib/modules/$module.ko
done
# No devices of their own: the tests create every one.
insmod /lib/modules/bonding.ko max_bonds=0
insmod /lib/modules/dummy.ko numdummies=0
echo "HOSTNET-GUEST-READY"
/bin/bash /test/run.sh
echo "HOSTNET-GUEST-DONE status=$?"
poweroff -f
INIT
chmod 0755 "$root/init"
cd ..
rm -rf debs
echo "$format" > complete
cd ..
mv "$cache.partial" "$cache"
