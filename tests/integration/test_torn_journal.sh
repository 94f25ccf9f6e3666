#!/bin/bash
# Torn and corrupt journal tails through the real store (issue 6): files
# are written and fsync'ed, the daemon is SIGKILLed (a clean unmount would
# fold the log into a checkpoint and leave no tail to damage), then on two
# copies of the store the newest journal segment is (a) cut in the middle
# of its last record and (b) given one flipped byte in its last record.
# cte-fsck must see the damage (exit 1); the remount must succeed, warn
# naming the segment and the record's offset, keep every earlier fsync'ed
# file intact, and leave a store that cte-fsck finds clean.
#
# Also checks the start-up warning of a store with only volatile (RAM)
# targets: nothing persists, and the daemon says so at the default level.
#
# Environment: CTE_FSCK, CRASH_WORKER (paths; CTest passes them).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init torn_journal
need_tool perl
CTE_FSCK=${CTE_FSCK:-$(command -v cte-fsck)}
[ -n "$CTE_FSCK" ] && [ -x "$CTE_FSCK" ] || skip "cte-fsck not found (set CTE_FSCK)"
[ -n "${CRASH_WORKER:-}" ] && [ -x "$CRASH_WORKER" ] ||
	skip "crash_worker not found (set CRASH_WORKER)"

STORE=$IT_TMP/store
MARKERS=$IT_TMP/markers.log
: >"$MARKERS"
it_config "$IT_CFG" 64MB 512MB "$STORE/tier1.dat"

# 1. files fsync'ed one by one, then a last one, then SIGKILL
it_mount "$IT_MNT" "$IT_CFG" "$IT_TMP/daemon.0.log"
mkdir "$IT_MNT/dir" && sync "$IT_MNT"
for i in 1 2 3 4 5 6; do
	head -c $((i * 37000)) /dev/urandom >"$IT_TMP/src$i"
	cp "$IT_TMP/src$i" "$IT_MNT/dir/early$i" &&
		sync "$IT_MNT/dir/early$i" && sync "$IT_MNT/dir" ||
		die "write/fsync of early$i"
	"$CRASH_WORKER" mark "$MARKERS" "dir/early$i" "$IT_TMP/src$i" ||
		die "marker"
done
head -c 100000 /dev/urandom >"$IT_MNT/late" && sync "$IT_MNT/late" ||
	die "write/fsync of late"
kill -KILL "$IT_PID"
wait "$IT_PID" 2>/dev/null
IT_PID=
fusermount3 -uz "$IT_MNT" 2>/dev/null
! is_mounted "$IT_MNT" || die "dead mount still mounted"

# last_record SEGMENT: "offset length" of the last complete record
last_record() {
	perl -e '
		open(my $f, "<:raw", $ARGV[0]) or die "$ARGV[0]: $!";
		my $size = -s $f; my ($off, $last, $len) = (0, -1, 0);
		while ($off + 16 <= $size) {
			seek($f, $off, 0); read($f, my $h, 16) == 16 or last;
			my ($word, $n) = unpack("VV", $h);
			last if ($word >> 16) != 0xC7E5;
			last if $off + 16 + $n + 4 > $size;
			($last, $len) = ($off, 16 + $n + 4);
			$off += 16 + $n + 4;
		}
		print "$last $len\n";' "$1"
}

# damage CASE: copy the store, damage its newest segment, fsck, remount,
# check.
damage() {
	local case=$1 st=$IT_TMP/store.$1 seg off len cfg out rc log
	cp -a --sparse=always "$STORE" "$st" || die "copy store"
	seg=$(ls "$st"/cte.journal.* 2>/dev/null | grep -v discarded |
		LC_ALL=C sort | tail -n 1)
	[ -n "$seg" ] || die "$case: no journal segment in $st"
	read -r off len < <(last_record "$seg")
	[ "$off" -gt 0 ] || die "$case: no record in $seg besides the header"
	case $case in
	torn)
		truncate -s $((off + len / 2)) "$seg" ;;
	flip)
		# one byte inside the payload (or the CRC of an empty one)
		perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die;
			seek($f, $ARGV[1], 0); read($f, my $b, 1);
			seek($f, $ARGV[1], 0); print $f chr(ord($b) ^ 0x5a);' \
			"$seg" $((off + len - 5)) ;;
	esac
	it_log "$case: damaged the record at offset $off ($len bytes) of $(basename "$seg")"
	out=$("$CTE_FSCK" "$st" 2>&1)
	rc=$?
	check_eq "$case: cte-fsck exit status on the damaged store" 1 "$rc" ||
		printf '%s\n' "$out" >&2
	printf '%s\n' "$out" | grep -q '^tail: clean' &&
		fail "$case: cte-fsck calls the damaged tail clean"
	cfg=$IT_TMP/config.$case.yaml
	log=$IT_TMP/daemon.$case.log
	it_config "$cfg" 64MB 512MB "$st/tier1.dat"
	it_mount "$IT_MNT" "$cfg" "$log"
	grep -F "$seg" "$log" | grep -q "offset $off\b" ||
		fail "$case: no warning naming $seg and offset $off in the daemon log: $(grep -i warn "$log" | head -n 5)"
	out=$("$CRASH_WORKER" verify "$IT_MNT" "$MARKERS" 2>&1)
	check_eq "$case: earlier fsync'ed files ($(printf '%s' "$out" | tail -n 1))" 0 $? ||
		printf '%s\n' "$out" | head -n 10 >&2
	it_unmount
	out=$("$CTE_FSCK" "$st" 2>&1)
	check_eq "$case: cte-fsck after the remount: $(printf '%s' "$out" | tail -n 1)" 0 $?
}
damage torn
damage flip

# 2. only volatile targets: the daemon says nothing persists
cat >"$IT_TMP/ram.yaml" <<EOF
runtime:
  num_threads: 2
compose:
  - mod_name: wrp_cte_core
    pool_name: cte_main
    pool_id: "512.0"
    pool_query: local
    storage:
      - path: "ram::only"
        bdev_type: ram
        capacity_limit: "32MB"
        score: 1.0
EOF
it_mount "$IT_MNT" "$IT_TMP/ram.yaml" "$IT_TMP/daemon.ram.log"
grep -q "only volatile (RAM) targets are configured.*nothing persists" \
	"$IT_TMP/daemon.ram.log" ||
	fail "volatile-only store: no 'nothing persists' warning in the daemon log"
it_unmount
# and a store with a file target does not say it
grep -l "nothing persists" "$IT_TMP"/daemon.[0-9].log "$IT_TMP"/daemon.torn.log \
	>/dev/null 2>&1 && fail "a store with a file target warned that nothing persists"
it_pass
