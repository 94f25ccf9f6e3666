#!/bin/bash
# Run the syscall exerciser on a native directory (ext4/tmpfs under
# $TMPDIR): its checks must all pass there, or the exerciser is wrong.
#   run_native.sh PATH/TO/syscall_exerciser
set -u
ex=${1:?usage: run_native.sh EXERCISER}
dir=$(mktemp -d "${TMPDIR:-/tmp}/ctefs-native.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
# Let the permissions test's unprivileged child reach the directory.
chmod 0755 "$dir"
echo "exerciser on $(stat -f -c %T "$dir") at $dir"
timeout -k 10 100 "$ex" "$dir"
