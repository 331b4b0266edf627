# Test registration. Everything runs against the real kernel as root.
set(XDPL_SRC ${CMAKE_CURRENT_SOURCE_DIR})

# Unit tests: one C program per stage; each takes the repo root.
# A listed file that is missing is a build error, never a dropped test.
foreach(t parse sema lower codegen loader)
  add_executable(test_${t} tests/unit/test_${t}.c)
  target_link_libraries(test_${t} PRIVATE xdplc_core xdpl)
  add_test(NAME unit/${t} COMMAND test_${t} ${XDPL_SRC})
  # 77: needs root and was not run as root
  set_tests_properties(unit/${t} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
# libelf: the oracle for runtime/elf_section.c
target_link_libraries(test_loader PRIVATE ${LIBELF_LIBRARIES})

# The runtime test compiles its own BPF programs with clang; 77 = not root.
find_program(XDPL_CLANG NAMES clang-19 REQUIRED)
add_executable(test_runtime tests/unit/test_runtime.c)
target_link_libraries(test_runtime PRIVATE xdpl)
add_test(NAME unit/runtime COMMAND test_runtime ${XDPL_CLANG} ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(unit/runtime PROPERTIES SKIP_RETURN_CODE 77)

# Language conformance: every test block of every file, in the kernel.
file(GLOB XDPL_LANG_TESTS CONFIGURE_DEPENDS ${XDPL_SRC}/tests/lang/*.xdpl)
foreach(f ${XDPL_LANG_TESTS})
  get_filename_component(n ${f} NAME_WE)
  add_test(NAME lang/${n} COMMAND xdplc test ${f})
endforeach()

# Diagnostics: each invalid program against its golden .expected file.
file(GLOB XDPL_ERROR_TESTS CONFIGURE_DEPENDS ${XDPL_SRC}/tests/errors/*.xdpl)
foreach(f ${XDPL_ERROR_TESTS})
  get_filename_component(n ${f} NAME_WE)
  add_test(NAME errors/${n}
    COMMAND bash ${XDPL_SRC}/tests/errors/check.sh $<TARGET_FILE:xdplc> ${f})
endforeach()

# Kernel: every object of tests/ and examples/ loads with bpftool and
# attaches with ip link in a throwaway netns; line info names .xdpl lines.
file(GLOB XDPL_KERNEL_TESTS CONFIGURE_DEPENDS ${XDPL_SRC}/tests/kernel/*.sh)
foreach(f ${XDPL_KERNEL_TESTS})
  get_filename_component(n ${f} NAME_WE)
  add_test(NAME kernel/${n} COMMAND bash ${f} $<TARGET_FILE:xdplc> ${XDPL_SRC})
  # 77: the kernel or machine lacks what the test needs; the test says what.
  set_tests_properties(kernel/${n} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
# libxdp's multi-program dispatcher needs freplace, which some kernels refuse:
# its own test, so that a refusal shows as a skip in the summary.
add_test(NAME kernel/interop_dispatcher
  COMMAND bash ${XDPL_SRC}/tests/kernel/interop.sh $<TARGET_FILE:xdplc> ${XDPL_SRC} dispatcher)
set_tests_properties(kernel/interop_dispatcher PROPERTIES SKIP_RETURN_CODE 77)

# The e2e tests that send with xdpl-trafficgen run a second time with its
# AF_PACKET sender forced (e2e-afpacket/NAME): the fallback for kernels
# that refuse live frames is tested on every machine.
file(GLOB XDPL_E2E_TESTS CONFIGURE_DEPENDS ${XDPL_SRC}/tests/e2e/*.sh)
foreach(f ${XDPL_E2E_TESTS})
  get_filename_component(n ${f} NAME_WE)
  add_test(NAME e2e/${n} COMMAND bash ${f} $<TARGET_FILE:xdplc> ${XDPL_SRC})
  set_tests_properties(e2e/${n} PROPERTIES SKIP_RETURN_CODE 77)
  file(STRINGS ${f} uses_tgen REGEX "xdpl-trafficgen|e2e_need_tgen")
  if(uses_tgen)
    add_test(NAME e2e-afpacket/${n} COMMAND bash ${f} $<TARGET_FILE:xdplc> ${XDPL_SRC})
    set_tests_properties(e2e-afpacket/${n} PROPERTIES ENVIRONMENT XDPL_TRAFFICGEN=afpacket
                         SKIP_RETURN_CODE 77)
  endif()
endforeach()

# Front-end fuzzing: mutated policies give diagnostics, never a crash.
add_executable(fuzz_frontend tests/fuzz/fuzz_frontend.c tests/fuzz/fuzz_common.c)
target_link_libraries(fuzz_frontend PRIVATE xdplc_core)
add_test(NAME fuzz/frontend COMMAND fuzz_frontend ${XDPL_SRC} 3000)

# Coverage-guided fuzzing with libFuzzer: a second build of the compiler
# core with clang-19 and -fsanitize=fuzzer (CMake option XDPL_LIBFUZZER),
# then a bounded run of each target (70 s in all). The long run is in
# tests/fuzz/README.md.
include(ExternalProject)
ExternalProject_Add(xdpl_libfuzzer
  SOURCE_DIR ${XDPL_SRC}
  BINARY_DIR ${CMAKE_BINARY_DIR}/libfuzzer
  CMAKE_ARGS -DCMAKE_C_COMPILER=${XDPL_CLANG} -DXDPL_LIBFUZZER=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
  BUILD_COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR}/libfuzzer
  INSTALL_COMMAND ""
  BUILD_ALWAYS ON)
foreach(t frontend:45 pktbuild:25)
  string(REPLACE ":" ";" tv ${t})
  list(GET tv 0 name)
  list(GET tv 1 secs)
  add_test(NAME fuzz/libfuzzer_${name}
    COMMAND bash ${XDPL_SRC}/tests/fuzz/libfuzzer.sh
            ${CMAKE_BINARY_DIR}/libfuzzer/libfuzz_${name} ${XDPL_SRC} ${secs})
endforeach()

# Documentation: docs/reference.md names every keyword, field, command and
# option, its stdlib section is generated from stdlib/, its examples compile
# and pass, and nothing points outside the repository. 77 = not root (the
# examples' tests were not run).
add_test(NAME docs/reference
  COMMAND bash ${XDPL_SRC}/tests/docs/reference.sh $<TARGET_FILE:xdplc> ${XDPL_SRC})
set_tests_properties(docs/reference PROPERTIES SKIP_RETURN_CODE 77)
# Hostile input through check and build: long and/or/+ chains scale
# linearly, /dev/zero, oversized files and NUL bytes are clear errors.
add_test(NAME fuzz/long_chains COMMAND python3 ${XDPL_SRC}/tests/fuzz/long_chains.py $<TARGET_FILE:xdplc>)
# Generated valid policies (tests/gen, issue 11): `check` accepts every one.
# The build/load/rewrite runs are in tests/gen/suite.cmake, not enabled yet.
add_test(NAME gen/check COMMAND /usr/bin/python3 ${XDPL_SRC}/tests/gen/run.py
  --xdplc $<TARGET_FILE:xdplc> --check-only --count 300 --jobs 2 -q)
