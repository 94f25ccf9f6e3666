#!/bin/bash
# dd conv=notrunc partial overwrites (against the same on a native copy),
# git init/add/commit/status/log/gc/fsck/clone, and sqlite3 databases
# (rollback journal and WAL) passing PRAGMA integrity_check.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init tools_apps
need_tool dd git sqlite3 sha256sum
it_config "$IT_CFG"
it_mount

it_log "dd conv=notrunc"
head -c $((8 * 1024 * 1024 + 1234)) /dev/urandom >"$IT_TMP/base" ||
	die "urandom"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$IT_TMP/patch" || die "urandom"
cp "$IT_TMP/base" "$IT_TMP/native"
check_cmd "cp base to the mount" cp "$IT_TMP/base" "$IT_MNT/dd"
# bs/seek/count/flags: inside, across 1 MiB, unaligned, past the end
for op in "bs=4096 seek=3 count=5" "bs=1000 seek=1047 count=3" \
	"bs=1M seek=2 count=2" "bs=1 seek=12345 count=77" \
	"bs=65536 seek=130 count=10" "bs=4096 seek=4095 count=1" \
	"bs=512 seek=1 count=1 oflag=direct"; do
	# shellcheck disable=SC2086
	dd if="$IT_TMP/patch" of="$IT_TMP/native" conv=notrunc $op \
		status=none 2>/dev/null ||
		dd if="$IT_TMP/patch" of="$IT_TMP/native" conv=notrunc \
			${op% oflag=direct} status=none
	# shellcheck disable=SC2086
	check_cmd "dd $op" dd if="$IT_TMP/patch" of="$IT_MNT/dd" \
		conv=notrunc $op status=none
	a=$(sha256sum <"$IT_TMP/native" | cut -d' ' -f1)
	b=$(sha256sum <"$IT_MNT/dd" | cut -d' ' -f1)
	check_eq "sha256 after dd $op" "$a" "$b"
done
check_eq "size after dd" "$(stat -c %s "$IT_TMP/native")" \
	"$(stat -c %s "$IT_MNT/dd")"
# dd reading the mount with direct I/O gives the same bytes
a=$(sha256sum <"$IT_TMP/native" | cut -d' ' -f1)
b=$(dd if="$IT_MNT/dd" bs=1M iflag=direct status=none | sha256sum |
	cut -d' ' -f1)
check_eq "sha256 of an O_DIRECT read" "$a" "$b"

it_log "git"
repo=$IT_MNT/repo
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid \
	GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid \
	GIT_CONFIG_NOSYSTEM=1 HOME=$IT_TMP
git config --global init.defaultBranch main
git config --global --add safe.directory '*'
check_cmd "git init" git init -q "$repo"
for i in $(seq 1 200); do
	mkdir -p "$repo/src/m$((i % 10))"
	seq "$i" $((i * 50)) >"$repo/src/m$((i % 10))/file$i.txt"
done
cp "$IT_TMP/patch" "$repo/blob.bin"
check_cmd "git add" git -C "$repo" add -A
check_cmd "git commit 1" git -C "$repo" commit -q -m first
st=$(git -C "$repo" status --porcelain)
check_eq "git status after commit" "" "$st"
echo change >>"$repo/src/m1/file1.txt"
rm "$repo/src/m2/file2.txt"
git -C "$repo" mv src/m3/file3.txt src/m3/renamed.txt
st=$(git -C "$repo" status --porcelain | LC_ALL=C sort | tr '\n' '|')
check_eq "git status after changes" \
	" D src/m2/file2.txt| M src/m1/file1.txt|R  src/m3/file3.txt -> src/m3/renamed.txt|" \
	"$st"
check_cmd "git commit 2" git -C "$repo" commit -q -a -m second
check_eq "git log count" 2 "$(git -C "$repo" log --oneline | wc -l)"
check_cmd "git gc" git -C "$repo" gc -q
check_cmd "git fsck" git -C "$repo" fsck --full --strict
check_cmd "git clone to native" git clone -q "$repo" "$IT_TMP/clone"
check_eq "clone HEAD" "$(git -C "$repo" rev-parse HEAD)" \
	"$(git -C "$IT_TMP/clone" rev-parse HEAD)"
d=$(diff -r -x .git "$repo" "$IT_TMP/clone" | head -n 5)
check_eq "clone tree equals the work tree" "" "$d"
check_cmd "git clone onto the mount" git clone -q "$IT_TMP/clone" \
	"$IT_MNT/clone2"
check_cmd "git fsck of the clone" git -C "$IT_MNT/clone2" fsck --full

it_log "sqlite3"
for mode in delete wal; do
	db=$IT_MNT/db-$mode.sqlite
	check_cmd "sqlite3 create ($mode)" sqlite3 "$db" "
		PRAGMA journal_mode=$mode;
		CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER);
		CREATE INDEX t_n ON t(n);
		WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c
			WHERE i < 20000)
		INSERT INTO t(v, n) SELECT hex(randomblob(40)), i % 97 FROM c;"
	for k in 1 2 3 4 5; do
		check_cmd "sqlite3 update $k ($mode)" sqlite3 "$db" "
			BEGIN;
			UPDATE t SET v = v || 'x' WHERE n = $k;
			DELETE FROM t WHERE id % 50 = $k;
			INSERT INTO t(v, n) VALUES ('new$k', $k);
			COMMIT;"
	done
	check_cmd "sqlite3 vacuum ($mode)" sqlite3 "$db" "VACUUM;"
	ic=$(sqlite3 "$db" "PRAGMA integrity_check;" 2>&1)
	check_eq "integrity_check ($mode)" ok "$ic"
	n=$(sqlite3 "$db" "SELECT count(*) FROM t;" 2>&1)
	check_eq "row count ($mode)" 18005 "$n"
done
it_unmount
it_pass
