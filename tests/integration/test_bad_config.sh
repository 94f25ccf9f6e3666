#!/bin/bash
# Bad configs: the daemon exits non-zero, prints a message naming the file
# (and the line or key at fault), and nothing is mounted.  Also a file
# target in a directory that does not exist.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init bad_config

# expect_refusal WHAT CONFIG [WORDS...]: run the daemon (foreground) on
# CONFIG; it must exit non-zero within 20 s, print every WORD (fixed
# strings), and leave nothing mounted.
expect_refusal() {
	local what=$1 cfg=$2 out rc w
	shift 2
	out=$(timeout -k 5 20 "$CTE_FUSE" -f -c "$cfg" "$IT_MNT" 2>&1 </dev/null)
	rc=$?
	printf '%s\n' "--- $what: exit $rc" "$out" >>"$IT_LOG"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		fail "$what: the daemon did not exit (it mounted?)"
	elif [ $rc -eq 0 ]; then
		fail "$what: the daemon exited 0"
	fi
	is_mounted "$IT_MNT" && { fail "$what: $IT_MNT is mounted"; it_umount "$IT_MNT"; }
	[ -n "$out" ] || fail "$what: no message"
	for w in "$@"; do
		printf '%s' "$out" | grep -qF -- "$w" ||
			fail "$what: message does not name '$w': $(printf '%s' "$out" | tail -n 3)"
	done
	it_log "$what: exit $rc: $(printf '%s' "$out" | grep -v '^$' | tail -n 1)"
}

# the good config mounts (so a refusal below is the config's doing)
it_config "$IT_CFG"
it_mount
it_unmount

missing=$IT_TMP/no/such/config.yaml
expect_refusal "missing config" "$missing" "$missing"
expect_refusal "config is a directory" "$IT_TMP/store" "$IT_TMP/store"

# daemonized (no -f): the refusal must reach the caller's exit status
out=$(timeout -k 5 20 "$CTE_FUSE" -c "$missing" "$IT_MNT" 2>&1 </dev/null)
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] ||
	fail "daemonizing with a missing config: exit $rc"
is_mounted "$IT_MNT" && fail "mounted with a missing config (daemonized)"

# YAML syntax error on line 7 (an unclosed flow sequence)
bad=$IT_TMP/syntax.yaml
it_config "$bad"
sed -i '7s/.*/    pool_query: [local, oops/' "$bad"
expect_refusal "YAML syntax error" "$bad" "$bad"
out=$(timeout 20 "$CTE_FUSE" -f -c "$bad" "$IT_MNT" 2>&1 </dev/null)
printf '%s' "$out" | grep -qE "(:|line )([6-9]|1[0-9])\b" ||
	fail "YAML syntax error: no line number near 7 in: $out"

# an invalid size, on line 12
bad=$IT_TMP/size.yaml
it_config "$bad"
sed -i 's/capacity_limit: "256MB"/capacity_limit: "12XB"/' "$bad"
line=$(grep -n 12XB "$bad" | cut -d: -f1)
expect_refusal "capacity_limit 12XB" "$bad" "$bad" capacity_limit
out=$(timeout 20 "$CTE_FUSE" -f -c "$bad" "$IT_MNT" 2>&1 </dev/null)
printf '%s' "$out" | grep -qE "(:|line )$line\b" ||
	fail "capacity_limit 12XB: line $line not named in: $out"

# an unknown bdev type and a negative capacity
bad=$IT_TMP/type.yaml
it_config "$bad"
sed -i 's/bdev_type: ram/bdev_type: floppy/' "$bad"
expect_refusal "bdev_type floppy" "$bad" "$bad" bdev_type
bad=$IT_TMP/neg.yaml
it_config "$bad"
sed -i 's/capacity_limit: "1GB"/capacity_limit: "-5GB"/' "$bad"
expect_refusal "capacity_limit -5GB" "$bad" "$bad" capacity_limit

# a file target in a directory that does not exist
nodir=$IT_TMP/missing-dir/sub/tier1.dat
bad=$IT_TMP/nodir.yaml
it_config "$bad" 256MB 1GB "$nodir"
expect_refusal "file target in a missing directory" "$bad" "$nodir"
[ -e "$IT_TMP/missing-dir" ] && fail "the daemon created the missing directory"
it_pass
