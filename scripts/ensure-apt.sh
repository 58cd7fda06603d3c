#!/usr/bin/env bash
# ensure-apt.sh PACKAGE PATH: install Debian PACKAGE with apt-get when PATH is missing.
# As root it runs `apt-get update` first (a fresh machine has no package lists); otherwise it prints the
# exact command to run and carries on (code that needs the data says so itself).
set -eu
pkg=$1 path=$2
[ -e "$path" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing Debian package $pkg (for $path)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
else
    echo "note: $path is missing; run: sudo apt-get update && sudo apt-get install -y $pkg" >&2
fi
