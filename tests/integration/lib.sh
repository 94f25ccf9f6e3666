# Shared helpers for the cte-fuse mounting tests.  Source it, then call
# it_init NAME first:
#
#   . "$(dirname "$0")/lib.sh"
#   it_init tiering           # temp dir, traps, timeout, root and /dev/fuse
#   it_config "$IT_TMP/cfg.yaml"   # optional: ram/file sizes via IT_RAM/IT_FILE
#   it_mount                   # start cte-fuse -f on $IT_MNT, wait for it
#   ... checks with check_eq / fail ...
#   it_pass
#
# Every path (success, failure, timeout, signal) unmounts the mount
# (fusermount3 -u, then -uz), kills the daemon, prints the daemon log when
# the test failed and removes the temp dir; if the test process itself is
# killed, the parent process that runs it under timeout(1) reaps the
# daemon, the mount and the temp dir (it_reap).  A test exits 0 when it passed,
# 1 when a check failed and 77 when it cannot run here (no root, no
# /dev/fuse, no daemon binary, a missing tool): CTest maps 77 to "skipped".
#
# Environment:
#   CTE_FUSE            the daemon (default: cte-fuse on PATH)
#   SYSCALL_EXERCISER   the exerciser program (tests that use it)
#   IT_TIMEOUT          seconds before the whole test is killed (default 240)
#   IT_MOUNT_WAIT       seconds to wait for the mount to appear (default 30)
#   IT_MOUNT_OPTS       -o options for the daemon (default allow_other)
#   IT_DAEMON_ARGS      more daemon arguments (e.g. -s)
#   IT_RAM, IT_FILE     tier sizes it_config writes (default 256MB, 1GB)
#   IT_KEEP=1           keep the temp dir (for debugging)

IT_NAME=${IT_NAME:-$(basename "$0" .sh)}
IT_FAILS=0
IT_TMP=${IT_TMP:-} # set by the parent in it_init
IT_MNT=
IT_PID=
IT_LOG=
IT_CFG=
IT_MOUNTS=

it_log() {
	printf '[%s %s] %s\n' "$IT_NAME" "$(date +%T)" "$*"
}

# fail MESSAGE...: record a failed check and keep going.
fail() {
	IT_FAILS=$((IT_FAILS + 1))
	printf '[%s] FAIL: %s\n' "$IT_NAME" "$*" >&2
}

# die MESSAGE...: a check whose failure makes the rest meaningless.
die() {
	fail "$@"
	exit 1
}

# skip MESSAGE...: this test cannot run on this machine.
skip() {
	printf '[%s] SKIP: %s\n' "$IT_NAME" "$*"
	IT_SKIPPED=1
	exit 77
}

# check_eq WHAT EXPECTED GOT
check_eq() {
	if [ "$2" != "$3" ]; then
		fail "$1: expected '$2', got '$3'"
		return 1
	fi
	return 0
}

# check_ne WHAT UNEXPECTED GOT
check_ne() {
	if [ "$2" = "$3" ]; then
		fail "$1: expected something other than '$2'"
		return 1
	fi
	return 0
}

# check_cmd WHAT COMMAND...: the command must succeed; its output is shown
# when it does not.
check_cmd() {
	local what=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$what: '$*' exited $rc: $(printf '%s' "$out" | tail -n 20)"
		return 1
	fi
	return 0
}

# need_tool NAME...: skip the test when a tool is missing.
need_tool() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
	done
}

is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}

# it_umount DIR: unmount, lazily if a busy mount refuses.
it_umount() {
	local d=$1 i
	is_mounted "$d" || return 0
	for i in 1 2 3; do
		fusermount3 -u "$d" 2>/dev/null && return 0
		is_mounted "$d" || return 0
		sleep 1
	done
	fusermount3 -uz "$d" 2>/dev/null || umount -l "$d" 2>/dev/null
	! is_mounted "$d"
}

# it_stop_daemon: wait for the daemon to exit after an unmount, then
# SIGTERM, then SIGKILL.  Sets IT_DAEMON_RC to its exit status.
it_stop_daemon() {
	local i
	IT_DAEMON_RC=
	[ -n "$IT_PID" ] || return 0
	for i in $(seq 1 50); do
		kill -0 "$IT_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$IT_PID" 2>/dev/null; then
		it_log "daemon $IT_PID still running after unmount; SIGTERM"
		kill -TERM "$IT_PID" 2>/dev/null
		for i in $(seq 1 50); do
			kill -0 "$IT_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$IT_PID" 2>/dev/null; then
			it_log "daemon $IT_PID ignored SIGTERM; SIGKILL"
			kill -KILL "$IT_PID" 2>/dev/null
		fi
	fi
	wait "$IT_PID" 2>/dev/null
	IT_DAEMON_RC=$?
	IT_PID=
}

it_cleanup() {
	local rc=$? m
	trap - EXIT INT TERM HUP
	[ "${IT_SKIPPED:-0}" = 1 ] && rc=77
	[ $rc -eq 0 ] && [ "$IT_FAILS" -ne 0 ] && rc=1
	for m in $IT_MOUNTS; do
		it_umount "$m" || printf '[%s] could not unmount %s\n' \
			"$IT_NAME" "$m" >&2
	done
	it_stop_daemon
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "$IT_LOG" ] &&
		[ -s "$IT_LOG" ]; then
		echo "----- daemon log ($IT_LOG, last 200 lines) -----" >&2
		tail -n 200 "$IT_LOG" >&2
		echo "----- end of daemon log -----" >&2
	fi
	if [ -n "$IT_TMP" ] && [ -d "$IT_TMP" ]; then
		# Never rm -rf across a live mount.
		if awk -v t="$IT_TMP/" 'index($2, t) == 1 { f = 1 }
			END { exit !f }' /proc/mounts; then
			echo "[$IT_NAME] leaving $IT_TMP: still mounted" >&2
		elif [ "${IT_KEEP:-0}" = 1 ]; then
			echo "[$IT_NAME] kept $IT_TMP" >&2
		else
			rm -rf "$IT_TMP"
		fi
	fi
	case $rc in
	0) echo "[$IT_NAME] PASS" ;;
	77) ;;
	*) echo "[$IT_NAME] FAILED ($IT_FAILS failed checks, exit $rc)" >&2 ;;
	esac
	exit $rc
}

# it_reap DIR: the last resort after the test process is gone (killed by
# the timeout's SIGKILL, say): stop the daemons it recorded, unmount what
# is mounted below DIR, and remove DIR.
it_reap() {
	local dir=$1 pid m _
	[ -d "$dir" ] || return 0
	if [ -f "$dir/daemon.pids" ]; then
		while read -r pid; do
			# only our own daemon: its command line names our dir
			tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" |
				grep -qF -- "$dir/" || continue
			echo "[$IT_NAME] reaping daemon $pid" >&2
			kill -TERM "$pid" 2>/dev/null
			for _ in $(seq 1 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -KILL "$pid" 2>/dev/null
		done <"$dir/daemon.pids"
	fi
	for m in $(awk -v t="$dir/" 'index($2, t) == 1 { print $2 }' \
		/proc/mounts); do
		echo "[$IT_NAME] reaping mount $m" >&2
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" \
			2>/dev/null || umount -l "$m"
	done
	if awk -v t="$dir/" 'index($2, t) == 1 { f = 1 } END { exit !f }' \
		/proc/mounts; then
		echo "[$IT_NAME] leaving $dir: still mounted" >&2
	elif [ "${IT_KEEP:-0}" != 1 ]; then
		rm -rf "$dir"
	fi
}

# it_init NAME: run the rest of the test under a timeout, check that we can
# mount, make the temp dir and install the cleanup trap.
it_init() {
	IT_NAME=$1
	if [ -z "${IT_UNDER_TIMEOUT:-}" ]; then
		# The test runs as a child under timeout(1) (which signals its
		# whole process group, daemon included: SIGTERM, then after
		# 15 s SIGKILL); this parent stays outside that group and
		# reaps whatever a killed test left behind.
		export IT_UNDER_TIMEOUT=1
		IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ctefs-it.$IT_NAME.XXXXXX") ||
			exit 1
		export IT_TMP
		timeout -k 15 "${IT_TIMEOUT:-240}" bash "$0" &
		local child=$! rc
		trap 'kill -TERM $child 2>/dev/null' INT TERM HUP
		while :; do
			wait "$child"
			rc=$?
			# wait returns > 128 when a trapped signal interrupted it
			kill -0 "$child" 2>/dev/null || break
		done
		trap - INT TERM HUP
		[ $rc -eq 124 ] && echo "[$IT_NAME] timed out after" \
			"${IT_TIMEOUT:-240} s" >&2
		# timeout(1) leads its own process group: whatever of the
		# test survived it (orphans of a killed test) goes now
		kill -KILL -- "-$child" 2>/dev/null
		it_reap "$IT_TMP"
		exit $rc
	fi
	[ "$(id -u)" -eq 0 ] || skip "needs root (mounts with allow_other)"
	[ -c /dev/fuse ] || skip "/dev/fuse is missing (modprobe fuse)"
	command -v fusermount3 >/dev/null 2>&1 || skip "fusermount3 missing"
	CTE_FUSE=${CTE_FUSE:-$(command -v cte-fuse)}
	[ -n "$CTE_FUSE" ] && [ -x "$CTE_FUSE" ] ||
		skip "cte-fuse not found (set CTE_FUSE)"
	if [ -z "${IT_TMP:-}" ] || [ ! -d "$IT_TMP" ]; then
		IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ctefs-it.$IT_NAME.XXXXXX") ||
			die "mktemp failed"
	fi
	IT_MNT=$IT_TMP/mnt
	IT_LOG=$IT_TMP/daemon.log
	IT_CFG=$IT_TMP/config.yaml
	mkdir -p "$IT_MNT" "$IT_TMP/store"
	# the exerciser's permissions test runs a child as nobody
	chmod 0755 "$IT_TMP" "$IT_MNT"
	trap it_cleanup EXIT
	trap 'echo "[$IT_NAME] interrupted (signal or timeout)" >&2; exit 124' \
		INT TERM HUP
}

# it_config FILE [RAM_SIZE [FILE_SIZE [FILE_PATH]]]: write a daemon config
# with a RAM tier and a file tier (defaults 256MB, 1GB, a file in the
# test's store dir).
it_config() {
	local cfg=$1 ram=${2:-${IT_RAM:-256MB}} fsz=${3:-${IT_FILE:-1GB}}
	local fpath=${4:-$IT_TMP/store/tier1.dat}
	cat >"$cfg" <<EOF
# written by tests/integration/lib.sh for $IT_NAME
runtime:
  num_threads: 2
  queue_depth: 1024
compose:
  - mod_name: wrp_cte_core
    pool_name: cte_main
    pool_id: "512.0"
    pool_query: local
    storage:
      - path: "ram::tier0"
        bdev_type: ram
        capacity_limit: "$ram"
        score: 1.0
      - path: "$fpath"
        bdev_type: file
        capacity_limit: "$fsz"
        score: 0.2
    dpe:
      dpe_type: max_bw
EOF
}

# it_mount [MOUNTPOINT [CONFIG [LOG]]]: start the daemon in the foreground
# (-f) in the background and wait, bounded, until the mount shows in
# /proc/mounts.  Fails the test if the daemon exits or the wait runs out.
it_mount() {
	local mnt=${1:-$IT_MNT} cfg=${2:-$IT_CFG} log=${3:-$IT_LOG} i
	local wait=${IT_MOUNT_WAIT:-30}
	[ -f "$cfg" ] || it_config "$cfg"
	mkdir -p "$mnt"
	IT_LOG=$log
	echo "+ $CTE_FUSE -f ${IT_DAEMON_ARGS:-}" \
		"-c $cfg -o ${IT_MOUNT_OPTS:-allow_other} $mnt" >>"$log"
	# shellcheck disable=SC2086 # IT_DAEMON_ARGS: words on purpose
	"$CTE_FUSE" -f ${IT_DAEMON_ARGS:-} -c "$cfg" \
		-o "${IT_MOUNT_OPTS:-allow_other}" "$mnt" >>"$log" 2>&1 &
	IT_PID=$!
	echo "$IT_PID" >>"$IT_TMP/daemon.pids"
	IT_MOUNTS="$IT_MOUNTS $mnt"
	for i in $(seq 1 $((wait * 10))); do
		if is_mounted "$mnt"; then
			# The kernel lists the mount before INIT is answered;
			# a stat round trip proves the daemon serves requests.
			stat "$mnt" >/dev/null 2>&1 && return 0
		fi
		if ! kill -0 "$IT_PID" 2>/dev/null; then
			wait "$IT_PID"
			die "cte-fuse exited with status $? before mounting $mnt"
		fi
		sleep 0.1
	done
	die "cte-fuse did not mount $mnt within ${wait}s"
}

# it_unmount [MOUNTPOINT]: a clean unmount in the middle of a test; checks
# that the daemon then exits 0.
it_unmount() {
	local mnt=${1:-$IT_MNT}
	it_umount "$mnt" || fail "could not unmount $mnt"
	it_stop_daemon
	check_eq "daemon exit status after unmount" 0 "$IT_DAEMON_RC"
}

# sums DIR: "sha256  relative/path" lines of every file under DIR, sorted.
sums() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z |
		xargs -0 -r sha256sum)
}

# xattr_dump DIR: user.* xattrs of every file under DIR, sorted, by
# relative path.
xattr_dump() {
	(cd "$1" && find . -print0 | LC_ALL=C sort -z |
		xargs -0 -r getfattr -h -d -m '^user\.' --absolute-names 2>/dev/null |
		awk '/^# file: / { head = $0; next }
		     /^user\.cte\./ || /^$/ { next }
		     { if (head != "") print head; head = ""; print }')
}

# make_tree DIR NSMALL NLARGE LARGE_MIB: a tree of many small files (spread
# over subdirectories, random sizes up to 8 KiB) and a few large ones, some
# with user xattrs, a symlink and a hard link.
make_tree() {
	local d=$1 ns=$2 nl=$3 lm=$4
	mkdir -p "$d" || return 1
	perl -e '
		my ($d, $n) = @ARGV;
		srand(42);
		for my $i (0 .. $n - 1) {
			my $sub = sprintf("%s/d%02d", $d, $i % 20);
			mkdir $sub unless -d $sub;
			open(my $f, ">", "$sub/f$i") or die "$sub/f$i: $!";
			my $len = int(rand(8192));
			print $f pack("C*", map { int(rand(256)) } 1 .. $len);
			close $f;
		}' "$d" "$ns" || return 1
	local i
	for i in $(seq 1 "$nl"); do
		head -c $((lm * 1024 * 1024)) /dev/urandom >"$d/large$i" ||
			return 1
	done
	setfattr -n user.color -v blue "$d/d00/f0" &&
		setfattr -n user.empty "$d/d01/f1" &&
		setfattr -n user.bin -v 0x00ff00ff "$d/d02/f2" &&
		setfattr -n user.dir -v yes "$d/d03" || return 1
	[ "$nl" -gt 0 ] && setfattr -n user.big -v "$(head -c 3000 \
		/dev/zero | tr '\0' x)" "$d/large1"
	chmod 0600 "$d/d04/f4"
	chmod 0755 "$d/d05/f5"
	ln -s d00/f0 "$d/link0"
	ln "$d/d06/f6" "$d/hard6"
	touch -d '2001-02-03 04:05:06' "$d/d07/f7"
	return 0
}

# it_pass: the last line of a test.
it_pass() {
	[ "$IT_FAILS" -eq 0 ] || exit 1
	exit 0
}

# meta DIR: type, mode, size (files and links), mtime (seconds), link
# target and hard-link group of everything under DIR, by relative path.
meta() {
	(cd "$1" && find . -mindepth 1 -printf '%p %y %m %s %T@ %l %n\n' |
		awk '{ split($5, t, "."); if ($2 == "d") $4 = "-";
		       $5 = t[1]; print }' | LC_ALL=C sort)
}

# diff_meta A B: the first lines of two meta listings that differ, side by
# side by path.
diff_meta() {
	awk 'NR == FNR { a[$1] = $0; next }
	     !($1 in a) { print "  only in 2nd: " $0; n++ }
	     ($1 in a) && a[$1] != $0 { print "  1st: " a[$1]; print "  2nd: " $0; n++ }
	     { delete a[$1] }
	     n >= 5 { exit }
	     END { if (n < 5) for (k in a) { print "  only in 1st: " a[k]; if (++n >= 5) break } }' "$1" "$2"
}

# same_tree WHAT A B: contents, user xattrs and metadata of two trees agree.
same_tree() {
	local what=$1 a=$2 b=$3 d
	d=$(diff <(sums "$a") <(sums "$b") | head -n 10)
	[ -z "$d" ] || fail "$what: contents differ: $d"
	d=$(diff <(xattr_dump "$a") <(xattr_dump "$b") | head -n 10)
	[ -z "$d" ] || fail "$what: user xattrs differ: $d"
	d=$(diff_meta <(meta "$a") <(meta "$b"))
	[ -z "$d" ] || fail "$what: metadata differs (path type mode size mtime link nlink):
$d"
	[ -n "$(sums "$a")" ] || fail "$what: $a is empty"
}
