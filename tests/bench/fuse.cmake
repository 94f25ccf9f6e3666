# cte-fuse benchmarks: fuse_metabench (metadata ops/s in a directory), used
# by cte_fuse_bench.sh, which compares cte-fuse with the native directory
# and bindfs:
#   tests/bench/cte_fuse_bench.sh build/bin/cte-fuse build/bin/fuse_metabench
add_executable(fuse_metabench ${CMAKE_CURRENT_LIST_DIR}/fuse_metabench.c)
