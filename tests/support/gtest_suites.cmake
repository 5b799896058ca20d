# Run by ctest (a TEST_INCLUDE_FILES script, written per test executable by
# tests/CMakeLists.txt): lists the executable's GoogleTest tests and adds one
# CTest test per suite (`Suite`, run as `EXE --gtest_filter=Suite.*`), and per
# suite and parameter for a parameterized one (`Backends/StateStoreTest/
# Postgres`, `--gtest_filter=Backends/StateStoreTest.*/Postgres`). One process
# per suite rather than per test: a sanitized test process costs about 0.2 s
# to start, and the suites hold 1,300 tests.
#
# Inputs (set by the generated file that includes this one): EXE, TARGET,
# LABEL, WORKDIR. Output: ${TARGET}_TESTS, the names added.
if(NOT EXISTS "${EXE}")
  add_test("${TARGET}_NOT_BUILT" "${EXE}")
  set("${TARGET}_TESTS" "${TARGET}_NOT_BUILT")
  return()
endif()
execute_process(COMMAND "${EXE}" --gtest_list_tests
  WORKING_DIRECTORY "${WORKDIR}"
  OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE rc
  TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} --gtest_list_tests failed (${rc}): ${errors}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
# Units: a suite, or a parameterized suite's tests of one parameter
# (`Backends/StateStoreTest/Postgres`: the fixtures go by name).
set(units)
set(suite "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([^ #][^ ]*)\\.( |$)")
    # Suites start in column 0 and end with '.'; their tests are indented.
    set(suite "${CMAKE_MATCH_1}")
  elseif(suite AND line MATCHES "^  ([^ ]+)")
    set(test "${CMAKE_MATCH_1}")
    if(test MATCHES "/([^/]+)$")
      list(APPEND units "${suite}/${CMAKE_MATCH_1}|${suite}.*/${CMAKE_MATCH_1}")
    else()
      list(APPEND units "${suite}|${suite}.*")
    endif()
  endif()
endforeach()
list(REMOVE_DUPLICATES units)
set(names)
foreach(unit IN LISTS units)
  string(REPLACE "|" ";" parts "${unit}")
  list(GET parts 0 name)
  list(GET parts 1 filter)
  add_test("${name}" "${EXE}" "--gtest_filter=${filter}")
  set_tests_properties("${name}" PROPERTIES
    LABELS "${LABEL}"
    WORKING_DIRECTORY "${WORKDIR}")
  list(APPEND names "${name}")
endforeach()
set("${TARGET}_TESTS" "${names}")
