#!/bin/sh
# Install what building, mounting and testing cte-fuse needs on Debian 12.
# Runs apt-get only when something is missing.  Needs root (or sudo).
set -eu
PKGS="build-essential cmake pkg-config libfuse3-dev fuse3 libyaml-dev
liburing-dev libcmocka-dev attr rsync sqlite3 fio git bindfs procps psmisc
util-linux kmod libcap2-bin"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "install-deps: installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
# /dev/fuse must exist for the mounting tests and the daemon.
[ -e /dev/fuse ] || { modprobe fuse 2>/dev/null || true; }
[ -e /dev/fuse ] || echo "install-deps: warning: /dev/fuse is missing" >&2
exit 0
