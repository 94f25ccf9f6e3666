#!/bin/bash
# The syscall exerciser on a fresh cte-fuse mount (the default: write-back
# cache, multi-threaded), then again single-threaded (-s) without the
# write-back cache, each on its own mount.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init syscalls
[ -x "${SYSCALL_EXERCISER:-}" ] || skip "SYSCALL_EXERCISER not set"
it_config "$IT_CFG"
it_log "default mount"
it_mount
SX_TEST_TIMEOUT=${SX_TEST_TIMEOUT:-60} "$SYSCALL_EXERCISER" "$IT_MNT" ||
	fail "syscall_exerciser reported failures on the default mount"
# nothing the exerciser left open keeps the file system busy
it_unmount

it_log "single-threaded mount without write-back cache"
mkdir -p "$IT_TMP/store2" "$IT_TMP/mnt2"
it_config "$IT_TMP/cfg2.yaml" 256MB 1GB "$IT_TMP/store2/tier1.dat"
IT_DAEMON_ARGS=-s IT_MOUNT_OPTS=allow_other,no_writeback \
	it_mount "$IT_TMP/mnt2" "$IT_TMP/cfg2.yaml" "$IT_TMP/daemon2.log"
chmod 0755 "$IT_TMP/mnt2"
SX_TEST_TIMEOUT=${SX_TEST_TIMEOUT:-60} "$SYSCALL_EXERCISER" "$IT_TMP/mnt2" ||
	fail "syscall_exerciser reported failures on the -s/no_writeback mount"
it_unmount "$IT_TMP/mnt2"
it_pass
