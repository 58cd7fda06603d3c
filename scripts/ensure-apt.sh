#!/usr/bin/env bash
# ensure-apt.sh PACKAGE PATH [PACKAGE PATH ...]: install each Debian PACKAGE whose PATH is missing.
# As root it runs `apt-get update` once first (a fresh machine has no package lists); otherwise it prints
# the exact command to run and carries on (code that needs the package says so itself).
set -eu
missing=()
while [ $# -ge 2 ]; do
    [ -e "$2" ] || missing+=("$1")
    shift 2
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "note: missing Debian packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
fi
