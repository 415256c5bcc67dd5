# tests/reliability/: hostile input and faults against the dnabert binary and
# the readers. One doctest executable per tests/reliability/test_*.cpp,
# registered as reliability_<name>. Each case asserts the exit code, that no
# file the user owns changed, and that the message names the file and field.
# Under ASan+UBSan (make asan-test) the binary these tests spawn trains many
# times slower, so their time limit grows with it.
if(DNABERT_SANITIZE)
  set(DNABERT_RELIABILITY_TIMEOUT 3600)
else()
  set(DNABERT_RELIABILITY_TIMEOUT 600)
endif()
file(GLOB DNABERT_RELIABILITY_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/reliability/test_*.cpp)
foreach(src ${DNABERT_RELIABILITY_SOURCES})
  get_filename_component(stem ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" stem ${stem})
  set(name reliability_${stem})
  add_executable(${name} ${src} $<TARGET_OBJECTS:dnabert_test_main>)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE dnabert_core doctest::doctest)
  add_dependencies(${name} dnabert)
  target_compile_definitions(${name} PRIVATE
    DNABERT_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}"
    DNABERT_BINARY="$<TARGET_FILE:dnabert>")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE" TIMEOUT ${DNABERT_RELIABILITY_TIMEOUT})
endforeach()
