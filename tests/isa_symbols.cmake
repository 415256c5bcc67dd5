# No inline function compiled for AVX2/AVX-512 may be shared with other code.
add_test(NAME isa_symbol_isolation
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tools/check-isa-symbols.sh $<TARGET_OBJECTS:dnabert_ops>
  COMMAND_EXPAND_LISTS)
