#!/usr/bin/env bash
# Unpacks Debian packages into the project's cache, never installing them system-wide:
#   scripts/debs.sh NAME PKG...   ->  .cache/NAME/root holds the packages' files.
# Done once per NAME (a stamp lists the packages); safe to run from several builds at once.
set -euo pipefail
name=$1; shift
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="$repo/.cache/$name"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ "$(cat "$cache/.stamp" 2>/dev/null)" = "$*" ] && [ -d "$cache/root" ]; then exit 0; fi
cd "$cache"
rm -f ./*.deb
# _apt cannot write to every cache dir; apt then downloads as root with a warning.
if ! apt-get download "$@" >download.log 2>&1; then
    # A fresh machine may have no package lists yet.
    [ "$(id -u)" -eq 0 ] && apt-get update -qq >/dev/null 2>&1
    apt-get download "$@" >download.log 2>&1 || { echo "debs.sh: apt-get download $*: $(tail -1 download.log)" >&2; exit 1; }
fi
rm -rf root
for deb in ./*.deb; do dpkg-deb -x "$deb" root; done
echo "$*" >.stamp
