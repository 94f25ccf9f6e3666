#!/bin/bash
# Invalid user.cte.score values fail with EINVAL and change nothing: the
# score, the placement and the bytes stay as they were.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init bad_xattr
need_tool setfattr getfattr
it_config "$IT_CFG"
it_mount
f=$IT_MNT/f
d=$IT_MNT/d
head -c $((2 * 1024 * 1024)) /dev/urandom >"$IT_TMP/src" || die "urandom"
check_cmd "write" dd if="$IT_TMP/src" of="$f" bs=1M conv=fsync status=none
mkdir "$d" || die "mkdir"
check_cmd "valid score on file" setfattr -n user.cte.score -v 0.0 "$f"
check_cmd "valid score on dir" setfattr -n user.cte.score -v 0.0 "$d"
want=$(sha256sum <"$IT_TMP/src" | cut -d' ' -f1)
place0=$(getfattr --absolute-names --only-values -n user.cte.placement "$f" 2>&1)
for target in "$f" "$d"; do
	for v in abc 1.5 -0.1 nan NaN "" inf -inf 0.5abc " " 1e400 2 -1; do
		out=$(setfattr -n user.cte.score -v "$v" "$target" 2>&1)
		rc=$?
		if [ $rc -eq 0 ]; then
			fail "setfattr score '$v' on $target succeeded"
		elif ! printf '%s' "$out" | grep -q "Invalid argument"; then
			fail "setfattr score '$v' on $target: want EINVAL, got: $out"
		fi
		check_eq "score after '$v' on $target" 0 \
			"$(getfattr --absolute-names --only-values -n user.cte.score "$target" 2>&1)"
	done
done
# the same through the raw syscall with a NUL-free binary value
out=$(setfattr -n user.cte.score -v 0x0102 "$f" 2>&1) &&
	fail "binary score accepted"
check_eq "placement unchanged" "$place0" \
	"$(getfattr --absolute-names --only-values -n user.cte.placement "$f" 2>&1)"
check_eq "bytes unchanged" "$want" \
	"$(dd if="$f" bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1)"
# placement is read-only
setfattr -n user.cte.placement -v "x=1" "$f" 2>/dev/null &&
	fail "setting user.cte.placement succeeded"
check_eq "placement unchanged after a write to it" "$place0" \
	"$(getfattr --absolute-names --only-values -n user.cte.placement "$f" 2>&1)"
# valid values with odd spellings are fine
for v in 1 0 .5 0.50 1.0; do
	check_cmd "valid score '$v'" setfattr -n user.cte.score -v "$v" "$f"
done
# a new file below the dir still gets the dir's (unchanged) default
check_cmd "write below dir" dd if="$IT_TMP/src" of="$d/new" bs=1M \
	conv=fsync status=none
check_eq "new file's score" 0 \
	"$(getfattr --absolute-names --only-values -n user.cte.score "$d/new" 2>&1)"
it_unmount
it_pass
