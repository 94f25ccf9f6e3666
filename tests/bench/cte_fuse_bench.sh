#!/bin/bash
# cte_fuse_bench.sh: the same fio workloads and a metadata workload on
#   native   the directory the cte-fuse file tier lives on,
#   bindfs   a plain FUSE passthrough of a native directory (Debian's
#            bindfs, libfuse 2.9, with big_writes and --multithreaded),
#   cte-fuse a fresh mount (RAM tier + file tier), default options,
#   cte-nowb the same with -o no_writeback (the kernel write-back cache off:
#            what it costs and gives, side by side),
# in one run, then a table of figures and the ratios to bindfs and native.  Not a test: it prints figures, never fails on them.
#
#   tests/bench/cte_fuse_bench.sh [CTE_FUSE [FUSE_METABENCH]]
#
# Environment (defaults keep one run under about 7 minutes on 2 cores):
#   BENCH_DIR      where to put everything (default: a new dir in /var/tmp)
#   BENCH_SIZE     sequential file size, MiB (512); 4 writers write 1/4 each
#   BENCH_RAND_MIB random-I/O file size, MiB (256)
#   BENCH_RUNTIME  seconds per random workload (10)
#   BENCH_FILES    files in the metadata workload (10000)
#   BENCH_RAM, BENCH_FILE  cte-fuse tier sizes (1GB, 4GB)
#   BENCH_TARGETS  which to run (native bindfs cte-fuse cte-nowb)
#   BENCH_DROP_CACHES=0    do not drop the page cache before reads
#   BENCH_CTE_OPTS extra -o options for both cte-fuse mounts
# meta_stat is the first stat(2) of each file after its close: with the
# write-back cache the kernel always asks the daemon then (it drops the
# cached block count at close); meta_restat stats every file once more.
# Every figure is also printed as a "name value unit" line
# (e.g. "cte-fuse.seq_write 812.3 MiB/s").
set -u
here=$(cd "$(dirname "$0")" && pwd)
CTE_FUSE=${1:-${CTE_FUSE:-$here/../../build/bin/cte-fuse}}
METABENCH=${2:-${FUSE_METABENCH:-$(dirname "$CTE_FUSE")/fuse_metabench}}
SIZE=${BENCH_SIZE:-512}
RAND_MIB=${BENCH_RAND_MIB:-256}
RUNTIME=${BENCH_RUNTIME:-10}
NFILES=${BENCH_FILES:-10000}
TARGETS=${BENCH_TARGETS:-native bindfs cte-fuse cte-nowb}

die() {
	echo "cte_fuse_bench: $*" >&2
	exit 1
}
command -v fio >/dev/null || die "fio is not installed"
[ -x "$METABENCH" ] || die "no fuse_metabench at $METABENCH (build it)"
case " $TARGETS " in *" cte-"*)
	[ -x "$CTE_FUSE" ] || die "no cte-fuse at $CTE_FUSE" ;;
esac
case " $TARGETS " in *" bindfs "*)
	command -v bindfs >/dev/null || die "bindfs is not installed" ;;
esac

T=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ctefs-bench.XXXXXX") || die "mktemp"
CTE_PIDS=
MOUNTS=

is_mounted() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts
}

cleanup() {
	local m pid
	trap - EXIT INT TERM HUP
	for m in $MOUNTS; do
		is_mounted "$m" || continue
		fusermount3 -u "$m" 2>/dev/null || fusermount -u "$m" \
			2>/dev/null || fusermount3 -uz "$m" 2>/dev/null ||
			umount -l "$m"
	done
	for pid in $CTE_PIDS; do
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if awk -v t="$T/" 'index($2, t) == 1 { f = 1 } END { exit !f }' \
		/proc/mounts; then
		echo "cte_fuse_bench: leaving $T: still mounted" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

wait_mount() {
	local m=$1 pid=$2
	for _ in $(seq 1 300); do
		is_mounted "$m" && stat "$m" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

declare -A DIRS
mkdir -p "$T/native" "$T/store"
DIRS[native]=$T/native

case " $TARGETS " in *" bindfs "*)
	mkdir -p "$T/bindsrc" "$T/bindmnt"
	# bindfs forks into the background once mounted
	bindfs --multithreaded -o big_writes "$T/bindsrc" "$T/bindmnt" ||
		die "bindfs failed"
	MOUNTS="$MOUNTS $T/bindmnt"
	DIRS[bindfs]=$T/bindmnt
	;;
esac

# mount_cte NAME DIR [-o OPTS]: a fresh cte-fuse on DIR with its own store
mount_cte() {
	local name=$1 dir=$2 pid
	shift 2
	mkdir -p "$dir" "$T/store-$name"
	cat >"$T/config-$name.yaml" <<EOF
runtime:
  num_threads: 2
  queue_depth: 1024
compose:
  - mod_name: wrp_cte_core
    pool_name: cte_main
    pool_id: "512.0"
    pool_query: local
    storage:
      - path: "ram::tier0"
        bdev_type: ram
        capacity_limit: "${BENCH_RAM:-1GB}"
        score: 1.0
      - path: "$T/store-$name/tier1.dat"
        bdev_type: file
        capacity_limit: "${BENCH_FILE:-4GB}"
        score: 0.2
    dpe:
      dpe_type: max_bw
EOF
	"$CTE_FUSE" -f -c "$T/config-$name.yaml" "$@" "$dir" \
		>"$T/$name.log" 2>&1 &
	pid=$!
	CTE_PIDS="$CTE_PIDS $pid"
	MOUNTS="$MOUNTS $dir"
	wait_mount "$dir" "$pid" || {
		tail -n 30 "$T/$name.log" >&2
		die "$name did not mount"
	}
	DIRS[$name]=$dir
}

case " $TARGETS " in *" cte-fuse "*)
	mount_cte cte-fuse "$T/mnt" ${BENCH_CTE_OPTS:+-o "$BENCH_CTE_OPTS"} ;;
esac
case " $TARGETS " in *" cte-nowb "*)
	mount_cte cte-nowb "$T/mnt-nowb" -o \
		"no_writeback${BENCH_CTE_OPTS:+,$BENCH_CTE_OPTS}" ;;
esac

drop_caches() {
	sync
	[ "${BENCH_DROP_CACHES:-1}" = 1 ] && [ -w /proc/sys/vm/drop_caches ] &&
		echo 3 >/proc/sys/vm/drop_caches
}

declare -A R # R[target.workload] = value

# fio_run TARGET WORKLOAD FIELD ARGS...: run fio (terse v3), keep the read
# (field 7, KiB/s; 8, IOPS) or write (48, KiB/s; 49, IOPS) figure.
fio_run() {
	local t=$1 w=$2 field=$3 line
	shift 3
	line=$(cd "${DIRS[$t]}" && fio --minimal --terse-version=3 \
		--directory="${DIRS[$t]}" --group_reporting "$@" 2>"$T/fio.err" |
		tail -n 1)
	if [ -z "$line" ] || [ "$(echo "$line" | cut -d';' -f5)" != 0 ]; then
		echo "cte_fuse_bench: fio $w on $t failed: $(tail -n 3 "$T/fio.err")" >&2
		R[$t.$w]=-
		return
	fi
	local v
	v=$(echo "$line" | cut -d';' -f"$field")
	case $field in
	7 | 48) v=$(awk -v k="$v" 'BEGIN { printf "%.1f", k / 1024 }') ;;
	esac
	R[$t.$w]=$v
}

declare -A UNIT=([seq_write]=MiB/s [seq_read]=MiB/s [rand_read_4k]=IOPS
	[rand_write_4k]=IOPS [par4_write]=MiB/s [meta_create]=ops/s
	[meta_stat]=ops/s [meta_restat]=ops/s [meta_list]=entries/s
	[meta_unlink]=ops/s)
WORKLOADS="seq_write seq_read rand_read_4k rand_write_4k par4_write
meta_create meta_stat meta_restat meta_list meta_unlink"

for t in $TARGETS; do
	d=${DIRS[$t]}
	echo "== $t ($d)" >&2
	fio_run "$t" seq_write 48 --name=seqw --rw=write --bs=1M \
		--size="${SIZE}M" --ioengine=psync --end_fsync=1
	drop_caches
	fio_run "$t" seq_read 7 --name=seqw --rw=read --bs=1M \
		--size="${SIZE}M" --ioengine=psync
	rm -f "$d"/seqw.*
	fio_run "$t" rand_write_4k 49 --name=rand --rw=randwrite --bs=4k \
		--size="${RAND_MIB}M" --ioengine=psync --iodepth=1 \
		--time_based --runtime="$RUNTIME" --end_fsync=1
	drop_caches
	fio_run "$t" rand_read_4k 8 --name=rand --rw=randread --bs=4k \
		--size="${RAND_MIB}M" --ioengine=psync --iodepth=1 \
		--time_based --runtime="$RUNTIME"
	rm -f "$d"/rand.*
	fio_run "$t" par4_write 48 --name=par --rw=write --bs=1M \
		--size="$((SIZE / 4))M" --numjobs=4 --ioengine=psync \
		--end_fsync=1
	rm -f "$d"/par.*
	if out=$("$METABENCH" "$d" "$NFILES" 2>&1); then
		while read -r name value _; do
			R[$t.$name]=$value
		done <<<"$out"
	else
		echo "cte_fuse_bench: metabench on $t failed: $out" >&2
	fi
	for w in $WORKLOADS; do
		echo "$t.$w ${R[$t.$w]:--} ${UNIT[$w]}"
	done
done

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0)
			print "-"
		else
			printf "%.2f", a / b }'
}

echo
printf '%-14s %-9s %10s %10s %10s %10s %10s %11s %10s\n' workload unit native \
	bindfs cte-fuse cte-nowb cte/bindfs nowb/bindfs cte/native
for w in $WORKLOADS; do
	n=${R[native.$w]:--}
	b=${R[bindfs.$w]:--}
	c=${R[cte-fuse.$w]:--}
	x=${R[cte-nowb.$w]:--}
	printf '%-14s %-9s %10s %10s %10s %10s %10s %11s %10s\n' "$w" \
		"${UNIT[$w]}" "$n" "$b" "$c" "$x" "$(ratio "$c" "$b")" \
		"$(ratio "$x" "$b")" "$(ratio "$c" "$n")"
done
echo "(sizes: seq ${SIZE} MiB, random ${RAND_MIB} MiB for ${RUNTIME} s" \
	"at qd1 psync, 4 writers x $((SIZE / 4)) MiB, $NFILES files;" \
	"native: $(stat -f -c %T "$T/native"))"
