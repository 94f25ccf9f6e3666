#!/bin/bash
# Several writers at once: 4 processes writing different files (different
# block sizes), 2 readers reading while they write, and 4 processes creating
# and removing files in one directory; then checksums and listings.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init parallel
it_config "$IT_CFG"
it_mount
mib=${IT_PAR_MIB:-48}
for i in 1 2 3 4; do
	head -c $((mib * 1024 * 1024 + i * 4097)) /dev/urandom \
		>"$IT_TMP/src$i" || die "urandom"
done
cp "$IT_TMP/src1" "$IT_MNT/stable" || die "cp stable"
want_stable=$(sha256sum <"$IT_TMP/src1" | cut -d' ' -f1)

it_log "4 writers, 2 readers"
pids=
bs_list=(4k 64k 1M 3333)
for i in 1 2 3 4; do
	dd if="$IT_TMP/src$i" of="$IT_MNT/w$i" bs="${bs_list[$((i - 1))]}" \
		status=none &
	pids="$pids $!"
done
readers=
for r in 1 2; do
	(
		for k in 1 2 3; do
			s=$(sha256sum <"$IT_MNT/stable" | cut -d' ' -f1)
			[ "$s" = "$want_stable" ] || { echo "reader $r: $s"; exit 1; }
		done
	) &
	readers="$readers $!"
done
for p in $pids; do
	wait "$p" || fail "writer $p exited $?"
done
for p in $readers; do
	wait "$p" || fail "a reader saw wrong bytes in an unchanged file"
done
for i in 1 2 3 4; do
	a=$(sha256sum <"$IT_TMP/src$i" | cut -d' ' -f1)
	b=$(sha256sum <"$IT_MNT/w$i" | cut -d' ' -f1)
	check_eq "sha256 of w$i" "$a" "$b"
done

it_log "4 processes creating and removing in one directory"
mkdir "$IT_MNT/shared" || die "mkdir"
pids=
for i in 1 2 3 4; do
	(
		for k in $(seq 1 300); do
			echo "$i-$k" >"$IT_MNT/shared/p$i-$k" || exit 1
		done
		for k in $(seq 1 3 300); do
			rm "$IT_MNT/shared/p$i-$k" || exit 1
		done
		mkdir "$IT_MNT/shared/dir$i" && mv "$IT_MNT/shared/p$i-2" \
			"$IT_MNT/shared/dir$i/" || exit 1
	) &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p" || fail "metadata worker $p exited $?"
done
# each worker: 300 files - 100 removed - 1 moved + 1 dir = 200 entries
check_eq "entries in shared/" 800 "$(ls -A "$IT_MNT/shared" | wc -l)"
check_eq "distinct entries" 800 "$(ls -A "$IT_MNT/shared" | sort -u | wc -l)"
check_eq "content of p3-3" "3-3" "$(cat "$IT_MNT/shared/p3-3")"
check_eq "moved file" "2-2" "$(cat "$IT_MNT/shared/dir2/p2-2")"
check_cmd "rm -rf shared" rm -rf "$IT_MNT/shared"
it_unmount
it_pass
