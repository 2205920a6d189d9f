//===- SafetensorsFuzz.cpp - libFuzzer target for parseSafetensors --------===//

#include "runtime/Safetensors.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  colm::Result<colm::TensorMap> r = colm::parseSafetensors(bytes, "fuzz");
  if (r) {
    // Whatever parses must serialise and parse back to the same tensors.
    colm::Result<std::string> again = colm::serializeSafetensors(*r);
    if (!again)
      __builtin_trap();
    colm::Result<colm::TensorMap> back = colm::parseSafetensors(*again, "re");
    if (!back || back->size() != r->size())
      __builtin_trap();
  } else if (r.status().message().empty()) {
    __builtin_trap(); // every error must say what went wrong
  }
  return 0;
}
