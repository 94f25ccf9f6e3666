#!/bin/bash
# A full file system: small tiers (RAM 16 MB, file 32 MB).  Writing until
# ENOSPC: the write fails with ENOSPC, the file keeps the bytes written
# before, other files are untouched, and deleting frees space for new
# writes.  With the write-back cache, write(2) may succeed and the error
# come at fsync/close instead; the file must still not claim bytes (size)
# it could not store.  Three rounds, as losing the race is intermittent.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init full_tier
it_config "$IT_CFG" 16MB 32MB
it_mount
dsum() {
	dd if="$1" bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1
}
head -c $((64 * 1024 * 1024)) /dev/urandom >"$IT_TMP/src" || die "urandom"
for i in 1 2; do
	head -c $((4 * 1024 * 1024 + i)) /dev/urandom >"$IT_TMP/keep$i"
	check_cmd "write keep$i" dd if="$IT_TMP/keep$i" of="$IT_MNT/keep$i" \
		bs=1M conv=fsync status=none
done
avail0=$(($(stat -f -c '%a * %S' "$IT_MNT")))
it_log "available before filling: $avail0 bytes"

for round in 1 2 3; do
	out=$(dd if="$IT_TMP/src" of="$IT_MNT/big" bs=1M conv=fsync \
		status=none 2>&1)
	rc=$?
	[ $rc -ne 0 ] || fail "round $round: 64 MiB fit in 48 MB of tiers"
	printf '%s' "$out" | grep -q "No space left on device" ||
		fail "round $round: want ENOSPC, dd said: $out"
	size=$(stat -c %s "$IT_MNT/big")
	it_log "round $round: dd stopped with $size bytes written"
	[ "$size" -ge $((16 * 1024 * 1024)) ] ||
		fail "round $round: only $size bytes fit in 48 MB"
	[ "$size" -le $((48 * 1024 * 1024)) ] ||
		fail "round $round: $size bytes is more than the tiers hold"
	# the bytes that were written are intact
	a=$(head -c "$size" "$IT_TMP/src" | sha256sum | cut -d' ' -f1)
	if ! check_eq "round $round: big keeps its bytes" "$a" \
		"$(dsum "$IT_MNT/big")"; then
		dd if="$IT_MNT/big" bs=1M iflag=direct status=none \
			of="$IT_TMP/back"
		it_log "round $round: $(cmp "$IT_TMP/src" "$IT_TMP/back" 2>&1 |
			head -n 1); $(cmp -l -n "$size" "$IT_TMP/src" \
			"$IT_TMP/back" 2>/dev/null | wc -l) bytes differ," \
			"$(cmp -l -n "$size" "$IT_TMP/src" "$IT_TMP/back" \
			2>/dev/null | awk '$3 == 0' | wc -l) of them read as 0"
		rm -f "$IT_TMP/back"
	fi
	# a further write fails too, and changes nothing
	out=$(dd if="$IT_TMP/src" of="$IT_MNT/big" bs=1M seek=$((size / 1048576 + 1)) \
		count=4 conv=notrunc,fsync status=none 2>&1) &&
		fail "round $round: a write past a full file system succeeded"
	for i in 1 2; do
		check_eq "round $round: keep$i unchanged" \
			"$(sha256sum <"$IT_TMP/keep$i" | cut -d' ' -f1)" \
			"$(dsum "$IT_MNT/keep$i")"
	done
	avail=$(($(stat -f -c '%a * %S' "$IT_MNT")))
	[ "$avail" -lt $((2 * 1024 * 1024)) ] ||
		fail "round $round: statfs says $avail bytes free when full"
	# delete and write again
	rm "$IT_MNT/big" || fail "rm big"
	sync
	avail=$(($(stat -f -c '%a * %S' "$IT_MNT")))
	[ "$avail" -ge $((avail0 - 2 * 1024 * 1024)) ] ||
		fail "round $round: after rm, $avail bytes free, was $avail0"
	check_cmd "round $round: write 8 MiB after rm" dd if="$IT_TMP/src" \
		of="$IT_MNT/again" bs=1M count=8 conv=fsync status=none
	check_eq "round $round: new file intact" \
		"$(head -c 8388608 "$IT_TMP/src" | sha256sum | cut -d' ' -f1)" \
		"$(dsum "$IT_MNT/again")"
	rm "$IT_MNT/again" || fail "rm again"
done
# many small files until full: the failing create/write is ENOSPC, not EIO
mkdir "$IT_MNT/small"
n=0
err=
while [ $n -lt 20000 ]; do
	if ! err=$(head -c 65536 "$IT_TMP/src" 2>&1 >"$IT_MNT/small/f$n"); then
		break
	fi
	n=$((n + 1))
done
sync
it_log "$n files of 64 KiB before the first error: $err"
[ $n -lt 20000 ] || fail "20000 x 64 KiB fit in 48 MB"
printf '%s' "$err" | grep -q "No space left" ||
	fail "small files: want ENOSPC, got: $err"
check_cmd "rm small files" rm -rf "$IT_MNT/small"
for i in 1 2; do
	check_eq "keep$i unchanged at the end" \
		"$(sha256sum <"$IT_TMP/keep$i" | cut -d' ' -f1)" \
		"$(dsum "$IT_MNT/keep$i")"
done
it_unmount
it_pass
