//===- LlvmWithoutAsanPoison.h - GraphFuzz with uninstrumented MLIR -------===//
//
// Force-included into GraphFuzz's sources. LLVM's headers poison the unused
// memory of their allocators when compiled with AddressSanitizer, but MLIR's
// static libraries are not: memory an inline function here poisons, the
// library then uses, and ASan reports a use-after-poison that is not a bug.
// Turning the annotations off keeps every other check.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TEST_FUZZ_LLVMWITHOUTASANPOISON_H
#define COLM_TEST_FUZZ_LLVMWITHOUTASANPOISON_H

#include <sanitizer/asan_interface.h>

#define __asan_poison_memory_region(p, size) ((void)(p), (void)(size))
#define __asan_unpoison_memory_region(p, size) ((void)(p), (void)(size))

#endif
