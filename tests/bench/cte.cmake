# chi_bench_cte: CTE PutBlob/GetBlob through the client API beside the bdev
# figures of the same devices.
add_executable(chi_bench_cte ${CMAKE_CURRENT_SOURCE_DIR}/chi_bench_cte.c)
target_link_libraries(chi_bench_cte PRIVATE cte_client chimaera_bdev_client
  chimaera)
add_dependencies(chi_bench_cte wrp_cte_core_runtime chimaera_bdev_runtime
  chimaera_admin_runtime)
