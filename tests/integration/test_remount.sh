#!/bin/bash
# Remount round trip (issue 6, durability): a tree built with real tools
# on the mount, unmounted, remounted on the same config: the same names,
# contents, modes, owners, times, user xattrs, scores and inode numbers.
# Not registered in CTest until the daemon passes it
# (cmake -DCTEFS_TEST_REMOUNT=ON).  Known failure (about 3 runs in 5):
# "sparse" comes back with a later mtime.  Under the kernel's write-back
# cache the kernel stamps mtime at write(2); when that equals the mtime it
# already sent with the truncate's SETATTR (same clock tick) it sends no
# SETATTR again, and the page's WRITE, arriving later at close, made CTE
# stamp mtime = now.  Fix in the daemon: write-back WRITEs (fi->writepage)
# must use cte_blob_write_ex(..., CTE_WRITE_KEEP_TIMES).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init remount
need_tool setfattr getfattr perl
it_config "$IT_CFG"
make_tree "$IT_TMP/src" "${IT_SMALL:-300}" 2 8 || die "make_tree"
it_mount
check_cmd "cp -a to the mount" cp -a "$IT_TMP/src" "$IT_MNT/tree"
mkdir "$IT_MNT/cold" && setfattr -n user.cte.score -v 0.0 "$IT_MNT/cold"
check_cmd "file below cold" cp "$IT_TMP/src/large1" "$IT_MNT/cold/x"
check_cmd "score 1.0" setfattr -n user.cte.score -v 1.0 "$IT_MNT/tree/large2"
chown 1234:5678 "$IT_MNT/tree/d08/f8"
ln -s /nowhere/at/all "$IT_MNT/dangling"
mkdir -p "$IT_MNT/empty/dir"
truncate -s 100M "$IT_MNT/sparse"
printf 'tail' >>"$IT_MNT/sparse"

snapshot() {
	(
		cd "$IT_MNT" && find . -printf '%p %y %m %U:%G %s %T@ %i %n %l\n' |
			awk '{ if ($2 == "d") $5 = "-"; print }' | LC_ALL=C sort
		sums "$IT_MNT"
		xattr_dump "$IT_MNT"
		for f in cold cold/x tree/large2; do
			echo "$f score $(getfattr --absolute-names --only-values -n user.cte.score "$f" 2>&1)"
		done
	)
}
sync
before=$(snapshot)
it_unmount
is_mounted "$IT_MNT" && die "still mounted"
it_mount
after=$(snapshot)
d=$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | head -n 20)
check_eq "tree after remount" "" "$d"
same_tree "remounted tree vs source" "$IT_TMP/src" "$IT_MNT/tree"
# and it is writable after the remount
check_cmd "write after remount" cp "$IT_TMP/src/large1" "$IT_MNT/new"
check_eq "new file" "$(sha256sum <"$IT_TMP/src/large1" | cut -d' ' -f1)" \
	"$(sha256sum <"$IT_MNT/new" | cut -d' ' -f1)"
it_unmount
it_pass
