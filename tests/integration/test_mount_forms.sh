#!/bin/bash
# The ways a user mounts and unmounts: daemonized start (returns when the
# mount is live), -o config=FILE, the mount(8) helper form with a SOURCE
# word and generic options, mount -o remount, umount, SIGTERM, and two
# mounts side by side.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init mount_forms
it_config "$IT_CFG"

# daemon_of MNT: pid of the cte-fuse serving MNT (by its command line).
daemon_of() {
	pgrep -f -- "cte-fuse.* $1\$" | head -n 1
}
# gone MNT PID: the mount disappears and the daemon exits within 10 s.
gone() {
	for _ in $(seq 1 100); do
		! is_mounted "$1" && ! kill -0 "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	is_mounted "$1" && fail "$3: $1 still mounted"
	kill -0 "$2" 2>/dev/null && fail "$3: daemon $2 still running"
	return 1
}

it_log "daemonized start"
IT_MOUNTS="$IT_MNT" # the cleanup trap unmounts it
timeout 30 "$CTE_FUSE" -c "$IT_CFG" "$IT_MNT" >>"$IT_LOG" 2>&1 ||
	die "daemonized start exited $?"
# it returned only when the mount was live
is_mounted "$IT_MNT" || fail "not mounted when cte-fuse returned"
echo data >"$IT_MNT/f" || fail "write right after start"
pid=$(daemon_of "$IT_MNT")
[ -n "$pid" ] || fail "no daemon process found"
check_cmd "fusermount3 -u" fusermount3 -u "$IT_MNT"
[ -n "$pid" ] && gone "$IT_MNT" "$pid" "fusermount3 -u"

it_log "-o config=FILE, umount, SIGTERM"
timeout 30 "$CTE_FUSE" -o "config=$IT_CFG,allow_other" "$IT_MNT" \
	>>"$IT_LOG" 2>&1 || die "start with -o config= exited $?"
is_mounted "$IT_MNT" || fail "-o config=: not mounted"
check_cmd "umount" umount "$IT_MNT"
timeout 30 "$CTE_FUSE" -c "$IT_CFG" "$IT_MNT" >>"$IT_LOG" 2>&1 ||
	die "restart exited $?"
pid=$(daemon_of "$IT_MNT")
if [ -n "$pid" ]; then
	kill -TERM "$pid"
	gone "$IT_MNT" "$pid" "SIGTERM"
else
	fail "no daemon process found for SIGTERM"
fi

it_log "mount -t fuse PROG#SOURCE with generic options, remount"
if command -v mount.fuse3 >/dev/null 2>&1; then
	out=$(timeout 30 mount -t fuse3 "$CTE_FUSE#$IT_CFG" "$IT_MNT" \
		-o rw,nosuid,nodev,noatime,allow_other 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "mount -t fuse3 PROG#CONFIG exited $rc: $out"
	else
		is_mounted "$IT_MNT" || fail "mount -t fuse3: not mounted"
		echo x >"$IT_MNT/g" || fail "write on the helper mount"
		# mount(8) runs "cte-fuse ... -o remount" through mount.fuse3
		# with the default PATH: only an installed cte-fuse can answer
		inst=
		for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin \
			/sbin /bin; do
			[ -x "$d/cte-fuse" ] && inst=$d/cte-fuse
		done
		if [ -n "$inst" ]; then
			check_cmd "mount -o remount" mount -o remount,noatime \
				"$IT_MNT"
		else
			it_log "cte-fuse is not installed: remount not tested"
		fi
		echo y >>"$IT_MNT/g" || fail "write after remount"
		check_eq "content after remount" "x y" \
			"$(tr '\n' ' ' <"$IT_MNT/g" | sed 's/ $//')"
		pid=$(pgrep -f -- "cte-fuse.*$IT_MNT" | head -n 1)
		check_cmd "umount the helper mount" umount "$IT_MNT"
		[ -n "$pid" ] && gone "$IT_MNT" "$pid" "umount (helper form)"
	fi
else
	it_log "mount.fuse3 missing; helper form not tested"
fi

it_log "two mounts side by side"
mkdir -p "$IT_TMP/mnt2" "$IT_TMP/store2"
it_config "$IT_TMP/cfg2.yaml" 64MB 256MB "$IT_TMP/store2/tier1.dat"
it_mount "$IT_MNT" "$IT_CFG"
pid1=$IT_PID
IT_PID=
it_mount "$IT_TMP/mnt2" "$IT_TMP/cfg2.yaml" "$IT_TMP/daemon2.log"
pid2=$IT_PID
echo one >"$IT_MNT/same" && echo two >"$IT_TMP/mnt2/same" ||
	fail "writes on two mounts"
check_eq "first mount's file" one "$(cat "$IT_MNT/same")"
check_eq "second mount's file" two "$(cat "$IT_TMP/mnt2/same")"
check_cmd "unmount the second" fusermount3 -u "$IT_TMP/mnt2"
gone "$IT_TMP/mnt2" "$pid2" "second mount"
check_eq "first mount unaffected" one "$(cat "$IT_MNT/same")"
IT_PID=$pid1
IT_LOG=$IT_TMP/daemon.log
it_unmount "$IT_MNT"
it_pass
