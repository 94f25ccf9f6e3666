#!/bin/bash
# fio with verification (crc32c, md5) on the mount: sequential and random
# writes, buffered and O_DIRECT, psync and libaio, several jobs at once.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init fio
need_tool fio
it_config "$IT_CFG"
it_mount
size=${IT_FIO_SIZE:-64M}

run_fio() {
	local what=$1 out
	shift
	out=$(cd "$IT_MNT" && fio --output-format=terse --minimal \
		--directory="$IT_MNT" --size="$size" --verify_fatal=1 \
		--do_verify=1 "$@" 2>&1)
	local rc=$?
	if [ $rc -ne 0 ] || printf '%s' "$out" | grep -qiE 'verify|bad magic|crc'; then
		fail "fio $what exited $rc: $(printf '%s' "$out" | tail -n 15)"
	fi
}

it_log "sequential write 1M, crc32c"
run_fio seq-crc32c --name=seq --rw=write --bs=1M --ioengine=psync \
	--verify=crc32c
it_log "random write 4k, md5, 2 jobs"
run_fio rand-md5 --name=rand --rw=randwrite --bs=4k --ioengine=psync \
	--verify=md5 --numjobs=2 --size=16M
it_log "random write 16k O_DIRECT libaio qd8, crc32c"
run_fio rand-direct --name=rd --rw=randwrite --bs=16k --direct=1 \
	--ioengine=libaio --iodepth=8 --verify=crc32c --size=32M
it_log "mixed random read/write, unaligned sizes, verify with headers"
run_fio randrw --name=rw --rw=randrw --bsrange=1k-128k --ioengine=psync \
	--verify=crc32c --verify_backlog=64 --size=16M
it_log "4 jobs sequential write of separate files, then verify"
run_fio par4 --name=par --rw=write --bs=256k --numjobs=4 \
	--ioengine=psync --verify=crc32c --size=32M
it_log "mmap engine"
run_fio mmap --name=mm --rw=randwrite --bs=4k --ioengine=mmap \
	--verify=crc32c --size=8M
rm -f "$IT_MNT"/*.[0-9]*.[0-9]*
it_unmount
it_pass
