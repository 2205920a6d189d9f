# Every generated CPU kernel against the reference interpreter, op by op
# (issue 8): needs MLIR (the interpreter runs parsed chain-dialect text).
add_executable(colm-crossbackend-tests CrossBackendTest.cpp)
target_include_directories(colm-crossbackend-tests SYSTEM PRIVATE
  ${COLM_MLIR_INCLUDES})
target_compile_options(colm-crossbackend-tests PRIVATE ${COLM_LLVM_DEFS})
target_link_libraries(colm-crossbackend-tests PRIVATE ColmCompiler
  ColmCodegenCpu MLIRParser GTest::gtest_main)
gtest_discover_tests(colm-crossbackend-tests DISCOVERY_TIMEOUT 60)
