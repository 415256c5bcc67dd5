# tests/fuzz/: the libFuzzer targets (one per parser, run by `make fuzz`) are
# also built with the normal compiler against tests/fuzz/replay_main.cpp and
# registered as fuzz_replay_<parser>, replaying the committed corpus
# tests/fuzz/corpus/<parser>/: the seeds and every input that once found a bug.
file(GLOB DNABERT_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/fuzz_*.cpp)
foreach(src ${DNABERT_FUZZ_SOURCES})
  get_filename_component(stem ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" stem ${stem})
  set(name fuzz_replay_${stem})
  add_executable(${name} tests/fuzz/replay_main.cpp ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE dnabert_core)
  add_test(NAME ${name} COMMAND ${name} ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/corpus/${stem})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE" TIMEOUT 300)
endforeach()
