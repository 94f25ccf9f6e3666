# Runtime benchmark (included from tests/bench/CMakeLists.txt): a program,
# not a test.  Run: build/bin/chi_bench_tasks [-w workers]
add_executable(chi_bench_tasks ${CMAKE_CURRENT_LIST_DIR}/chi_bench_tasks.c)
target_include_directories(chi_bench_tasks PRIVATE
  ${PROJECT_SOURCE_DIR}/modules/admin/include
  ${PROJECT_SOURCE_DIR}/tests/unit/runtime)
target_link_libraries(chi_bench_tasks PRIVATE chimaera Threads::Threads)
add_dependencies(chi_bench_tasks chimaera_admin_runtime chimaera_test_runtime)
