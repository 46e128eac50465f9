#!/usr/bin/env bash
# Installs what kxen needs to build and test, from Debian's packages (root, or sudo).
set -euo pipefail
pkgs=(cmake ninja-build g++ pkg-config libgtest-dev libgmock-dev libbenchmark-dev libfmt-dev
      libcli11-dev nlohmann-json3-dev libxen-dev libzstd-dev liburing-dev libunicorn-dev e2fsprogs
      clang-16 libclang-rt-16-dev    # these two: the libFuzzer build (scripts/fuzz.sh)
      # The shared libraries Debian's libvirtd and virsh link (unpacked into .cache, not
      # installed, for tests/conformance/libvirt_test.cpp).
      libacl1 libapparmor1 libaudit1 libcap-ng0 libcurl3-gnutls libdevmapper1.02.1 libglib2.0-0
      libgnutls30 libnl-3-200 libnuma1 libparted2 libpcap0.8 libpciaccess0 libreadline8
      libsasl2-2 libssh-4 libssh2-1 libtirpc3 libxml2 libyajl2)
[ "${1:-}" = "--bench" ] && pkgs+=(qemu-system-x86)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Real Xen guests the tests boot, unpacked into .cache (not installed): Debian's GRUB for PVH.
"$(dirname "$0")/debs.sh" grub-debs grub-xen-host
