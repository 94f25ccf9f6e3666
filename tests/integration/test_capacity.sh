#!/bin/bash
# Tier capacity is part of the store (issue 15).  On a small tmpfs made by
# the test, the built-in default tiers (XDG_DATA_HOME points there) get
# data, then a filler file takes most of the free space, so the next start
# computes a smaller file tier: the store must still mount with its data.
# An explicit capacity_limit below what the tier holds is refused, naming
# the tier, its used bytes and the requested size; a copy of the whole
# store directory mounts; a target file replaced by another file of the
# same size is refused, naming it.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init capacity
need_tool mount umount sha256sum fallocate

FS=$IT_TMP/fs
TIER=$FS/cte-fuse/file_tier.dat
FS_MOUNTED=0
cap_cleanup() {
	local rc=$? m
	for m in $IT_MOUNTS; do
		it_umount "$m"
	done
	it_stop_daemon
	[ "$FS_MOUNTED" = 1 ] && { umount "$FS" || umount -l "$FS"; }
	(exit "$rc")
	it_cleanup
}
trap cap_cleanup EXIT
mkdir -p "$FS"
mount -t tmpfs -o size=1024m tmpfs "$FS" || skip "cannot mount a tmpfs"
FS_MOUNTED=1
export XDG_DATA_HOME=$FS
unset CHI_SERVER_CONF WRP_RUNTIME_CONF
# a config without a CTE pool: the daemon adds its built-in default tiers
DEFAULT_CFG=$IT_TMP/runtime_only.yaml
printf 'runtime:\n  num_threads: 2\n' >"$DEFAULT_CFG"

# file tier size the daemon announced last ("file PATH N MiB")
tier_mib() {
	awk '$1 == "file" && $3 ~ /^[0-9]+$/ && $4 == "MiB" { n = $3 }
	     END { print n }' "$IT_LOG"
}

# start_refused WHAT CONFIG: the daemon must refuse to start; its output
# goes to $IT_TMP/refused.log.
start_refused() {
	local what=$1 cfg=$2
	: >"$IT_TMP/refused.log"
	if timeout 60 "$CTE_FUSE" -c "$cfg" -o allow_other "$IT_MNT" \
		>"$IT_TMP/refused.log" 2>&1; then
		fail "$what: the daemon started"
		IT_MOUNTS="$IT_MOUNTS $IT_MNT"
		it_umount "$IT_MNT"
		return 1
	fi
	it_log "$what: refused: $(grep -v "^  " "$IT_TMP/refused.log" |
		tail -n 3 | tr '\n' ' ')"
	return 0
}

it_log "default tiers on a 1 GiB tmpfs, 160 MiB of data"
it_mount "$IT_MNT" "$DEFAULT_CFG"
first=$(tier_mib)
it_log "file tier at first start: $first MiB"
{ [ -n "$first" ] && [ "$first" -ge 200 ]; } ||
	die "file tier of '$first' MiB at the first start"
for i in 1 2 3 4 5 6 7 8; do
	head -c $((20 * 1024 * 1024)) /dev/urandom >"$IT_TMP/src$i"
	check_cmd "write f$i" dd if="$IT_TMP/src$i" of="$IT_MNT/f$i" bs=1M \
		conv=fsync status=none
done
it_log "placement of f8: $(getfattr --only-values -n user.cte.placement \
	"$IT_MNT/f8" 2>/dev/null | tr '\n' ' ')"
want=$(cd "$IT_TMP" && cat src1 src2 src3 src4 src5 src6 src7 src8 |
	sha256sum | cut -d' ' -f1)
it_unmount

it_log "fill the tmpfs: the free space drops below what sized the tier"
check_cmd "filler" fallocate -l 600M "$FS/filler"
it_log "tmpfs: $(df -m --output=avail "$FS" | tail -n 1) MiB free"
it_mount "$IT_MNT" "$DEFAULT_CFG"
again=$(tier_mib)
it_log "file tier at the second start: $again MiB"
check_eq "the default never shrinks the tier" "$first" "$again"
got=$(cd "$IT_MNT" && cat f1 f2 f3 f4 f5 f6 f7 f8 | sha256sum | cut -d' ' -f1)
check_eq "data after the free space dropped" "$want" "$got"
it_unmount

it_log "explicit capacity_limit below the used bytes: refused"
it_config "$IT_TMP/small.yaml" 64MB 32MB "$TIER"
if start_refused "32MB file tier" "$IT_TMP/small.yaml"; then
	msg=$(grep -F "$TIER" "$IT_TMP/refused.log" | grep -F 33554432)
	[ -n "$msg" ] ||
		fail "the refusal names neither $TIER nor 33554432 bytes: $(
			tail -n 5 "$IT_TMP/refused.log")"
	used=$(printf '%s' "$msg" | sed -n 's/.* holds \([0-9]*\) bytes.*/\1/p' |
		head -n 1)
	{ [ -n "$used" ] && [ "$used" -ge $((160 * 1024 * 1024)) ]; } ||
		fail "the refusal gives no used bytes >= 160 MiB: $msg"
fi

it_log "explicit capacity_limit above the store's: grows, data intact"
it_config "$IT_TMP/big.yaml" 64MB "$((first + 16))MB" "$TIER"
it_mount "$IT_MNT" "$IT_TMP/big.yaml"
got=$(cd "$IT_MNT" && cat f1 f2 f3 f4 f5 f6 f7 f8 | sha256sum | cut -d' ' -f1)
check_eq "data after growing the tier" "$want" "$got"
it_unmount

it_log "a copy of the whole store directory is the same store"
check_cmd "copy the store away" cp -a --sparse=always "$FS/cte-fuse" \
	"$IT_TMP/store-copy"
rm -rf "$FS/cte-fuse"
check_cmd "copy it back" cp -a --sparse=always "$IT_TMP/store-copy" \
	"$FS/cte-fuse"
rm -rf "$IT_TMP/store-copy"
it_mount "$IT_MNT" "$DEFAULT_CFG"
got=$(cd "$IT_MNT" && cat f1 f2 f3 f4 f5 f6 f7 f8 | sha256sum | cut -d' ' -f1)
check_eq "data in the copied store" "$want" "$got"
it_unmount

it_log "the target file replaced by another of the same size: refused"
rm -f "$FS/filler"
size=$(stat -c %s "$TIER")
mv "$TIER" "$FS/old_tier.dat"
truncate -s "$size" "$TIER"
if start_refused "replaced target file" "$DEFAULT_CFG"; then
	grep -F "$TIER" "$IT_TMP/refused.log" | grep -qi identity ||
		fail "the refusal does not name $TIER and its identity: $(
			tail -n 5 "$IT_TMP/refused.log")"
fi
it_log "the original file back: mounts with its data"
mv "$FS/old_tier.dat" "$TIER"
it_mount "$IT_MNT" "$DEFAULT_CFG"
got=$(cd "$IT_MNT" && cat f1 f2 f3 f4 f5 f6 f7 f8 | sha256sum | cut -d' ' -f1)
check_eq "data with the original target file" "$want" "$got"
it_unmount
it_pass
