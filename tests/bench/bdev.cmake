# chi_bench_bdev: bdev RAM and file devices against the raw file and memcpy.
add_executable(chi_bench_bdev ${CMAKE_CURRENT_SOURCE_DIR}/chi_bench_bdev.c)
target_link_libraries(chi_bench_bdev PRIVATE chimaera_bdev_client chimaera
  PkgConfig::URING)
add_dependencies(chi_bench_bdev chimaera_bdev_runtime)
