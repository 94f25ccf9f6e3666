#!/bin/bash
# Tiering through xattrs: user.cte.score moves a file's bytes between the
# RAM tier (score 1.0) and the file tier (score 0.2); user.cte.placement
# names the targets holding them; the bytes never change.  A directory's
# score is the default for new files below it.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init tiering
need_tool setfattr getfattr
it_config "$IT_CFG"
ram=ram::tier0
ftier=$IT_TMP/store/tier1.dat
it_mount
f=$IT_MNT/data
size=$((8 * 1024 * 1024 + 4096))
head -c "$size" /dev/urandom >"$IT_TMP/src" || die "urandom"
want=$(sha256sum <"$IT_TMP/src" | cut -d' ' -f1)
# No fsync on these writes: fsync copies RAM-only blocks to a non-volatile
# tier (issue 6), which is not what is tested here.  Closing the file
# flushes its pages to the daemon.
check_cmd "write the file" dd if="$IT_TMP/src" of="$f" bs=1M status=none

# sha256 read with O_DIRECT, so the bytes come from the daemon, not the
# page cache
dsum() {
	dd if="$1" bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1
}
placement() {
	getfattr --absolute-names --only-values -n user.cte.placement "$1" 2>&1
}
# check_on WHAT FILE TARGET SIZE: every byte of FILE is on TARGET
check_on() {
	local what=$1 file=$2 target=$3 sz=$4 p total other
	p=$(placement "$file")
	total=$(printf '%s\n' "$p" | awk -F= 'NF == 2 { s += $NF } END { print s + 0 }')
	other=$(printf '%s\n' "$p" | grep -v "^$target=" | grep -c .)
	if ! printf '%s\n' "$p" | grep -q "^$target=[0-9]"; then
		fail "$what: no bytes on $target; placement: $(printf '%s' "$p" | tr '\n' ' ')"
	elif [ "$other" -ne 0 ]; then
		fail "$what: bytes on other targets than $target: $(printf '%s' "$p" | tr '\n' ' ')"
	fi
	# the targets together hold the file's bytes (rounded up to blocks)
	if [ "$total" -lt "$sz" ] || [ "$total" -gt $((sz + 1048576)) ]; then
		fail "$what: placement totals $total bytes for a $sz-byte file"
	fi
}

p=$(placement "$f")
it_log "initial placement: $(printf '%s' "$p" | tr '\n' ' ')"
printf '%s\n' "$p" | grep -qE '^[^=]+=[0-9]+$' ||
	fail "placement is not 'target=bytes' lines: '$p'"
check_eq "listxattr does not list user.cte.placement" "" \
	"$(getfattr --absolute-names -d -m - "$f" 2>/dev/null | grep cte.placement)"

for round in 1 2; do
	check_cmd "score 0.0 ($round)" setfattr -n user.cte.score -v 0.0 "$f"
	check_eq "score reads back 0 ($round)" 0 \
		"$(getfattr --absolute-names --only-values -n user.cte.score "$f" 2>&1)"
	check_on "after score 0.0 ($round)" "$f" "$ftier" "$size"
	check_eq "sha256 after score 0.0 ($round)" "$want" "$(dsum "$f")"

	check_cmd "score 1.0 ($round)" setfattr -n user.cte.score -v 1.0 "$f"
	check_eq "score reads back 1 ($round)" 1 \
		"$(getfattr --absolute-names --only-values -n user.cte.score "$f" 2>&1)"
	check_on "after score 1.0 ($round)" "$f" "$ram" "$size"
	check_eq "sha256 after score 1.0 ($round)" "$want" "$(dsum "$f")"
done
# the nearest tier: 0.3 is the file tier (0.2), 0.8 the RAM tier (1.0)
check_cmd "score 0.3" setfattr -n user.cte.score -v 0.3 "$f"
check_on "after score 0.3" "$f" "$ftier" "$size"
check_cmd "score 0.8" setfattr -n user.cte.score -v 0.8 "$f"
check_on "after score 0.8" "$f" "$ram" "$size"
check_eq "sha256 after 0.3/0.8" "$want" "$(dsum "$f")"
# a page-cache read agrees too
check_eq "sha256 (buffered)" "$want" "$(sha256sum <"$f" | cut -d' ' -f1)"

# score and placement follow the file through rename and partial writes
check_cmd "score 0.0 before rename" setfattr -n user.cte.score -v 0.0 "$f"
mv "$f" "$IT_MNT/renamed" || fail "rename"
check_eq "score after rename" 0 \
	"$(getfattr --absolute-names --only-values -n user.cte.score "$IT_MNT/renamed" 2>&1)"
check_on "placement after rename" "$IT_MNT/renamed" "$ftier" "$size"
printf 'PATCH' | dd of="$IT_MNT/renamed" bs=1 seek=5000000 conv=notrunc,fsync \
	status=none
printf 'PATCH' | dd of="$IT_TMP/src" bs=1 seek=5000000 conv=notrunc status=none
want=$(sha256sum <"$IT_TMP/src" | cut -d' ' -f1)
check_on "placement after a write to a score-0 file" "$IT_MNT/renamed" \
	"$ftier" "$size"
check_eq "sha256 after patch" "$want" "$(dsum "$IT_MNT/renamed")"

# directory defaults
for spec in "cold 0.0 $ftier" "hot 1.0 $ram"; do
	# shellcheck disable=SC2086 # split "name score target"
	set -- $spec
	mkdir "$IT_MNT/$1" || fail "mkdir $1"
	check_cmd "score on dir $1" setfattr -n user.cte.score -v "$2" \
		"$IT_MNT/$1"
	check_eq "dir $1 score reads back" "$(printf '%g' "$2")" \
		"$(getfattr --absolute-names --only-values -n user.cte.score "$IT_MNT/$1" 2>&1)"
	check_cmd "write below $1" dd if="$IT_TMP/src" of="$IT_MNT/$1/new" \
		bs=1M status=none
	check_eq "new file below $1 has the dir's score" "$(printf '%g' "$2")" \
		"$(getfattr --absolute-names --only-values -n user.cte.score "$IT_MNT/$1/new" 2>&1)"
	check_on "new file below $1" "$IT_MNT/$1/new" "$3" "$size"
	check_eq "sha256 of $1/new" "$want" "$(dsum "$IT_MNT/$1/new")"
done
# cp -a copies an explicitly set score (it is listed and stored like any
# user xattr; an inherited default is not listed, so a copy takes the
# default of its new directory)
check_cmd "cp -a a scored file" cp -a "$IT_MNT/renamed" "$IT_MNT/hot/copy"
check_eq "cp -a keeps the score" 0 \
	"$(getfattr --absolute-names --only-values -n user.cte.score "$IT_MNT/hot/copy" 2>&1)"
check_on "cp -a copy placed by its score" "$IT_MNT/hot/copy" "$ftier" "$size"
check_cmd "cp -a an unscored file" cp -a "$IT_MNT/cold/new" "$IT_MNT/hot/copy2"
check_eq "copy of a file with an inherited score takes the new default" 1 \
	"$(getfattr --absolute-names --only-values -n user.cte.score "$IT_MNT/hot/copy2" 2>&1)"
it_unmount
it_pass
