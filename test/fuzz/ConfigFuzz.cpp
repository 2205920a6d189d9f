//===- ConfigFuzz.cpp - libFuzzer target for parseConfig/validateConfig ---===//

#include "runtime/Config.h"
#include "runtime/Json.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  // The JSON writer must produce text the parser reads back identically.
  if (colm::Result<colm::JsonValue> json = colm::parseJson(text, "fuzz")) {
    std::string pretty = colm::writeJson(*json);
    colm::Result<colm::JsonValue> back = colm::parseJson(pretty, "re");
    if (!back || colm::writeJson(*back) != pretty)
      __builtin_trap();
  }
  colm::Result<colm::ModelConfig> cfg = colm::parseConfig(text, "fuzz");
  if (!cfg)
    return 0;
  colm::Status st = colm::validateConfig(*cfg);
  if (st.isOk()) {
    // A valid config round-trips through its JSON form.
    colm::Result<colm::ModelConfig> back =
        colm::parseConfig(colm::configToJson(*cfg), "re");
    if (!back || !(*back == *cfg))
      __builtin_trap();
    for (int k = 0; k <= cfg->numChains(); ++k)
      (void)cfg->prefixWidth(cfg->intermediateSize, k);
  } else if (st.message().empty()) {
    __builtin_trap();
  }
  return 0;
}
