#!/bin/bash
# FUSE_HANDLE_KILLPRIV_V2 (fuse/rawio.c) and the contract that comes with
# it: the daemon, not the kernel, clears set-user-ID/set-group-ID and
# removes security.capability on write, truncate and chown.
#
#   1. A mount with -d: 200 small writes to one file send (almost) no
#      GETXATTR security.capability, i.e. the kernel accepted the flag, and
#      the INIT reply carried it; with -o no_killpriv_v2 every write sends
#      one (proves the count measures what it should).
#   2. The exerciser's killpriv, permissions and chmod_chown tests on the
#      default mount (write-back cache) and on a no_writeback mount.
#   3. Real tools as an unprivileged user (runuser/setpriv to nobody):
#      dd, truncate and chgrp clear the bits; setcap'ed files lose the
#      capability on write; root's writes keep suid.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init killpriv
[ -x "${SYSCALL_EXERCISER:-}" ] || skip "SYSCALL_EXERCISER not set"
need_tool setpriv setfattr getfattr dd truncate
if ! command -v setcap >/dev/null 2>&1; then
	# libcap2-bin (scripts/install-deps.sh lists it)
	sh "$(dirname "$0")/../../scripts/install-deps.sh" >/dev/null 2>&1
	need_tool setcap getcap
fi
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups --"

# count_getxattr LOG: GETXATTR requests in a -d log so far
count_getxattr() {
	grep -c 'opcode: GETXATTR' "$1"
}

# writes_getxattr MOUNT LOG: GETXATTRs sent during 200 4 KiB writes
writes_getxattr() {
	local f=$1/gx n0 n1
	dd if=/dev/zero of="$f" bs=4k count=1 2>/dev/null || return 1
	sleep 0.3
	n0=$(count_getxattr "$2")
	dd if=/dev/zero of="$f" bs=4k count=200 conv=notrunc 2>/dev/null ||
		return 1
	sleep 0.3
	n1=$(count_getxattr "$2")
	echo $((n1 - n0))
}

it_config "$IT_CFG"
it_log "1. negotiation: a -d mount, then one with -o no_killpriv_v2"
IT_DAEMON_ARGS=-d it_mount
n=$(writes_getxattr "$IT_MNT" "$IT_LOG") || die "writes on the -d mount"
it_log "GETXATTR during 200 writes with killpriv_v2: $n"
[ "$n" -le 5 ] || fail "kernel still sends GETXATTR per write ($n/200):" \
	"FUSE_HANDLE_KILLPRIV_V2 not in effect"
grep -q 'INIT reply: added FUSE_HANDLE_KILLPRIV_V2' "$IT_LOG" ||
	fail "the daemon did not report adding FUSE_HANDLE_KILLPRIV_V2"
it_unmount

mkdir -p "$IT_TMP/store2" "$IT_TMP/mnt2"
it_config "$IT_TMP/cfg2.yaml" 256MB 1GB "$IT_TMP/store2/tier1.dat"
IT_DAEMON_ARGS=-d IT_MOUNT_OPTS=allow_other,no_killpriv_v2 \
	it_mount "$IT_TMP/mnt2" "$IT_TMP/cfg2.yaml" "$IT_TMP/daemon2.log"
n=$(writes_getxattr "$IT_TMP/mnt2" "$IT_LOG") || die "writes on mnt2"
it_log "GETXATTR during 200 writes with no_killpriv_v2: $n"
[ "$n" -ge 190 ] || fail "no_killpriv_v2: expected a GETXATTR per" \
	"write, got $n/200 (the count does not measure the flag)"
it_unmount "$IT_TMP/mnt2"

it_log "2. the exerciser on the default mount"
it_config "$IT_TMP/cfg3.yaml" 256MB 1GB "$IT_TMP/store/tier3.dat"
it_mount "$IT_MNT" "$IT_TMP/cfg3.yaml" "$IT_TMP/daemon3.log"
chmod 0755 "$IT_MNT"
"$SYSCALL_EXERCISER" -t killpriv,permissions,chmod_chown "$IT_MNT" ||
	fail "exerciser killpriv tests on the default mount"

it_log "3. tools as nobody on the default mount"
d=$IT_MNT/tools
mkdir -p "$d" && chmod 0777 "$d" || die "mkdir $d"
for f in dd_suid tr_suid chgrp_sgid root_suid cap_w cap_root; do
	head -c 8192 /dev/urandom >"$d/$f" || die "create $d/$f"
done
chmod 04777 "$d/dd_suid" "$d/tr_suid" "$d/root_suid"
chmod 0666 "$d/cap_w"
chown 65534:0 "$d/chgrp_sgid" && chmod 06755 "$d/chgrp_sgid" ||
	die "chown/chmod chgrp_sgid"
setcap cap_net_raw+ep "$d/cap_w" && setcap cap_net_raw+ep "$d/cap_root" ||
	die "setcap on the mount"
check_ne "getcap after setcap" "" "$(getcap "$d/cap_w")"

$NOBODY dd if=/dev/zero of="$d/dd_suid" bs=1 count=10 seek=5 \
	conv=notrunc 2>/dev/null || fail "dd as nobody"
check_eq "mode after dd by nobody" 777 "$(stat -c %a "$d/dd_suid")"
$NOBODY truncate -s 100 "$d/tr_suid" || fail "truncate as nobody"
check_eq "mode after truncate by nobody" 777 "$(stat -c %a "$d/tr_suid")"
$NOBODY chgrp 65534 "$d/chgrp_sgid" || fail "chgrp as nobody (owner)"
check_eq "mode after chgrp by the owner" 755 \
	"$(stat -c %a "$d/chgrp_sgid")"
$NOBODY sh -c "echo more >>'$d/cap_w'" || fail "append as nobody"
check_eq "getcap after a write by nobody" "" "$(getcap "$d/cap_w")"
echo more >>"$d/root_suid" || fail "append as root"
check_eq "mode after root's write" 4777 "$(stat -c %a "$d/root_suid")"
echo more >>"$d/cap_root" || fail "append as root"
check_eq "getcap after root's write" "" "$(getcap "$d/cap_root")"
# setfattr with a raw v2 value works too (cap_net_raw=ep)
setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 \
	"$d/cap_root" || fail "setfattr security.capability"
check_ne "getcap after setfattr" "" "$(getcap "$d/cap_root")"
chmod 0666 "$d/cap_root"
$NOBODY dd if=/dev/zero of="$d/cap_root" bs=512 count=1 conv=notrunc \
	2>/dev/null || fail "dd as nobody on cap_root"
check_eq "getfattr after a write by nobody" "" \
	"$(getfattr -n security.capability --only-values "$d/cap_root" \
		2>/dev/null)"
it_unmount

it_log "4. the exerciser without the write-back cache"
mkdir -p "$IT_TMP/store4" "$IT_TMP/mnt4"
it_config "$IT_TMP/cfg4.yaml" 256MB 1GB "$IT_TMP/store4/tier1.dat"
IT_MOUNT_OPTS=allow_other,no_writeback \
	it_mount "$IT_TMP/mnt4" "$IT_TMP/cfg4.yaml" "$IT_TMP/daemon4.log"
chmod 0755 "$IT_TMP/mnt4"
"$SYSCALL_EXERCISER" -t killpriv,permissions,chmod_chown "$IT_TMP/mnt4" ||
	fail "exerciser killpriv tests on the no_writeback mount"
it_unmount "$IT_TMP/mnt4"
it_pass
