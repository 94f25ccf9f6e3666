#!/bin/bash
# cp -a, rsync -aHX and tar --xattrs round trips of a tree with many small
# files and a few large ones, through the mount and back, compared by
# checksums, user xattrs and metadata.
#   IT_SMALL (2000) small files, IT_LARGE (3) large files of IT_LARGE_MIB (64)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init tools_copy
need_tool rsync tar setfattr getfattr perl
src=$IT_TMP/src
make_tree "$src" "${IT_SMALL:-2000}" "${IT_LARGE:-3}" \
	"${IT_LARGE_MIB:-64}" || die "could not build the source tree"
# three copies of the tree may live on the mount at once
it_config "$IT_CFG" 256MB 2GB
it_mount

it_log "cp -a in and out"
check_cmd "cp -a to the mount" cp -a "$src" "$IT_MNT/cp"
same_tree "cp -a native->mount" "$src" "$IT_MNT/cp"
check_cmd "cp -a from the mount" cp -a "$IT_MNT/cp" "$IT_TMP/back_cp"
same_tree "cp -a mount->native" "$src" "$IT_TMP/back_cp"
ino1=$(stat -c %i "$IT_MNT/cp/hard6")
ino2=$(stat -c %i "$IT_MNT/cp/d06/f6")
check_eq "cp -a keeps the hard link" "$ino1" "$ino2"
rm -rf "$IT_TMP/back_cp"

it_log "rsync -aHX in and out"
check_cmd "rsync to the mount" rsync -aHX "$src/" "$IT_MNT/rs/"
same_tree "rsync native->mount" "$src" "$IT_MNT/rs"
# a second run finds nothing to do (sizes, times, modes, xattrs kept)
changes=$(rsync -aHXi "$src/" "$IT_MNT/rs/" 2>&1 | head -n 10)
check_eq "second rsync itemized changes" "" "$changes"
check_cmd "rsync from the mount" rsync -aHX "$IT_MNT/rs/" "$IT_TMP/back_rs/"
same_tree "rsync mount->native" "$src" "$IT_TMP/back_rs"
rm -rf "$IT_TMP/back_rs"
# deleting a whole tree works and frees its space for the tar round
check_cmd "rm -rf a tree on the mount" rm -rf "$IT_MNT/cp"
[ -e "$IT_MNT/cp" ] && fail "rm -rf left $IT_MNT/cp"

it_log "tar --xattrs in and out"
check_cmd "tar create on the mount" tar --xattrs --xattrs-include='user.*' \
	-cf "$IT_MNT/tree.tar" -C "$src" .
mkdir -p "$IT_MNT/tx"
check_cmd "tar extract on the mount" tar --xattrs --xattrs-include='user.*' \
	-xpf "$IT_MNT/tree.tar" -C "$IT_MNT/tx"
same_tree "tar native->mount" "$src" "$IT_MNT/tx"
mkdir -p "$IT_TMP/back_tar"
check_cmd "tar from the mount" tar --xattrs --xattrs-include='user.*' \
	-xpf "$IT_MNT/tree.tar" -C "$IT_TMP/back_tar"
same_tree "tar mount->native" "$src" "$IT_TMP/back_tar"
check_cmd "rm -rf everything" rm -rf "$IT_MNT/tx" "$IT_MNT/rs" \
	"$IT_MNT/tree.tar"
left=$(ls -A "$IT_MNT")
check_eq "mount empty after rm -rf" "" "$left"
it_unmount
it_pass
