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
# (c) On a third copy the segment is split in three at the points where
# early3 and early6 were durable (as rotations would have left it) and the
# first record of the middle segment gets a flipped byte: that segment was
# synced before the next was created, so this is corruption, not a torn
# tail.  The daemon must refuse to mount, naming the segment, the offset
# and cte-fsck, and change nothing; cte-fsck and cte-fsck -r report it and
# change nothing; cte-fsck -d cuts there and renames the last segment
# aside; the store then mounts with early1..3 intact and fscks clean.
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
MARKERS3=$IT_TMP/markers3.log
: >"$MARKERS"
: >"$MARKERS3"
it_config "$IT_CFG" 64MB 512MB "$STORE/tier1.dat"

# newest_segment DIR: the path of DIR's newest journal segment
newest_segment() {
	ls "$1"/cte.journal.* 2>/dev/null | grep -v discarded |
		LC_ALL=C sort | tail -n 1
}

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
	if [ "$i" -le 3 ]; then
		"$CRASH_WORKER" mark "$MARKERS3" "dir/early$i" "$IT_TMP/src$i" ||
			die "marker"
	fi
	# where the log ended once early3 and early6 were durable
	[ "$i" -eq 3 ] && SIZE3=$(stat -c %s "$(newest_segment "$STORE")")
	[ "$i" -eq 6 ] && SIZE6=$(stat -c %s "$(newest_segment "$STORE")")
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
	seg=$(newest_segment "$st")
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
	verify_unmount_fsck "$case" "$MARKERS" "$st"
}

# verify_unmount_fsck CASE MARKERS STORE: the files in MARKERS are intact
# on the mount; after the unmount cte-fsck finds STORE clean.
verify_unmount_fsck() {
	local case=$1 markers=$2 st=$3 out
	out=$("$CRASH_WORKER" verify "$IT_MNT" "$markers" 2>&1)
	check_eq "$case: earlier fsync'ed files ($(printf '%s' "$out" | tail -n 1))" 0 $? ||
		printf '%s\n' "$out" | head -n 10 >&2
	it_unmount
	out=$("$CTE_FSCK" "$st" 2>&1)
	check_eq "$case: cte-fsck after the remount: $(printf '%s' "$out" | tail -n 1)" 0 $?
}
damage torn
damage flip

# split_segment SEGMENT CUT...: split SEGMENT at the last group end at or
# before each CUT (a byte offset): the part after each becomes a segment of
# its own, named and headed with the sequence of the record before it, as
# a rotation at that point would have written it.  Prints the new paths.
split_segment() {
	perl -e '
		sub crc32c {
			my $c = 0xFFFFFFFF;
			for my $b (unpack("C*", $_[0])) {
				$c ^= $b;
				$c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1
					for 1 .. 8;
			}
			return $c ^ 0xFFFFFFFF;
		}
		my ($seg, @cuts) = @ARGV;
		open(my $f, "<:raw", $seg) or die "$seg: $!";
		my $d = do { local $/; <$f> };
		close $f;
		my ($size, $off, @ends) = (length($d), 28);
		while ($off + 16 <= $size) {
			my ($w, $n, $seq) = unpack("VVQ<", substr($d, $off, 16));
			last if ($w >> 16) != 0xC7E5;
			my $end = $off + 16 + $n + 4;
			last if $end > $size;
			my $kind = ($w >> 8) & 0xff;
			# a standalone record or a group commit ends a group
			push @ends, [$end, $seq] if $kind == 2 || $kind == 5;
			$off = $end;
		}
		my @b;
		for my $c (@cuts) {
			my @at = grep { $_->[0] <= $c } @ends;
			@at or die "no group end at or before $c\n";
			push @b, $at[-1];
		}
		my ($dir) = $seg =~ m{^(.*)/[^/]+$};
		for my $i (0 .. $#b) {
			my $from = $b[$i][0];
			my $to = $i < $#b ? $b[$i + 1][0] : $size;
			$to > $from or die "empty part at $from\n";
			my $h = pack("VVQ<VV", 0xC7E5 << 16 | 1 << 8, 8,
				$b[$i][1], 1, 0);
			$h .= pack("V", crc32c($h));
			my $name = sprintf("%s/cte.journal.%016x", $dir, $b[$i][1]);
			open(my $o, ">:raw", $name) or die "$name: $!";
			print $o $h, substr($d, $from, $to - $from);
			close $o or die "$name: $!";
			print "$name\n";
		}
		truncate($seg, $b[0][0]) or die "$seg: $!";' "$@"
}

# 3. a bad record in a segment that was already synced
st=$IT_TMP/store.synced
cp -a --sparse=always "$STORE" "$st" || die "copy store"
seg=$(newest_segment "$st")
mapfile -t parts < <(split_segment "$seg" "$SIZE3" "$SIZE6")
[ "${#parts[@]}" -eq 2 ] || die "synced: could not split $seg"
mid=${parts[0]}
# a payload byte of the middle segment's first record (offset 28)
perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die;
	seek($f, 46, 0); read($f, my $b, 1);
	seek($f, 46, 0); print $f chr(ord($b) ^ 0x5a);' "$mid"
it_log "synced: split $(basename "$seg") at $SIZE3 and $SIZE6; flipped a byte of the record at offset 28 of $(basename "$mid")"
before=$(cd "$st" && ls -l --time-style=+ cte.journal.* | md5sum; md5sum cte.journal.*)
cfg=$IT_TMP/config.synced.yaml
it_config "$cfg" 64MB 512MB "$st/tier1.dat"
out=$(timeout -k 5 60 "$CTE_FUSE" -f -c "$cfg" "$IT_MNT" 2>&1 </dev/null)
rc=$?
printf '%s\n' "--- synced: refused mount: exit $rc" "$out" >>"$IT_LOG"
if is_mounted "$IT_MNT"; then
	fail "synced: cte-fuse mounted a store with a corrupt synced segment"
	it_umount "$IT_MNT"
fi
[ $rc -ne 0 ] && [ $rc -ne 124 ] ||
	fail "synced: cte-fuse exited $rc on a corrupt synced segment"
for w in "$mid" "offset 28" "cte-fsck -d $st"; do
	printf '%s' "$out" | grep -qF -- "$w" ||
		fail "synced: the refusal does not name '$w': $(printf '%s' "$out" | tail -n 3)"
done
it_log "synced: cte-fuse refused: $(printf '%s' "$out" | grep -F "$mid" | head -n 1)"
after=$(cd "$st" && ls -l --time-style=+ cte.journal.* | md5sum; md5sum cte.journal.*)
check_eq "synced: segments unchanged by the refused mount" "$before" "$after"
ls "$st"/*.discarded >/dev/null 2>&1 &&
	fail "synced: the refused mount renamed segments aside"

out=$("$CTE_FSCK" "$st" 2>&1)
check_eq "synced: cte-fsck exit status" 1 $? || printf '%s\n' "$out" >&2
printf '%s\n' "$out" | grep -qF "journal: CORRUPT in $mid at offset 28" ||
	fail "synced: cte-fsck does not report the corrupt segment: $out"
out=$("$CTE_FSCK" -r "$st" 2>&1)
check_eq "synced: cte-fsck -r exit status" 1 $? || printf '%s\n' "$out" >&2
printf '%s\n' "$out" | grep -q "not repaired" ||
	fail "synced: cte-fsck -r does not say it did not repair: $out"
after=$(cd "$st" && ls -l --time-style=+ cte.journal.* | md5sum; md5sum cte.journal.*)
check_eq "synced: segments unchanged by cte-fsck and cte-fsck -r" "$before" "$after"

out=$("$CTE_FSCK" -d "$st" 2>&1)
check_eq "synced: cte-fsck -d exit status (repaired problems)" 1 $? ||
	printf '%s\n' "$out" >&2
printf '%s\n' "$out" | grep -q "later segments (repaired)" ||
	fail "synced: cte-fsck -d does not report the repair: $out"
it_log "synced: cte-fsck -d: $(printf '%s\n' "$out" | grep '^discarded')"
check_eq "synced: $(basename "${parts[1]}") renamed aside" yes \
	"$([ -f "${parts[1]}.discarded" ] && [ ! -e "${parts[1]}" ] && echo yes)"
check_eq "synced: $(basename "$mid") cut after its header" 28 \
	"$(stat -c %s "$mid")"
it_mount "$IT_MNT" "$cfg" "$IT_TMP/daemon.synced.log"
verify_unmount_fsck "synced (early1..3)" "$MARKERS3" "$st"

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
