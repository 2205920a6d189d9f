//===- TuningCache.cpp - Autotuned kernel knobs, per device ---------------===//

#include "compiler/codegen/TuningCache.h"

#include "compiler/codegen/KernelCache.h"
#include "runtime/CpuInfo.h"
#include "runtime/File.h"
#include "runtime/Json.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <unistd.h>

#ifndef COLM_VERSION
#define COLM_VERSION "unknown"
#endif

namespace colm::codegen {
namespace {

constexpr const char *kFormat = "colm-tuning-cache";
constexpr int64_t kFormatVersion = 1;
// A real file holds a few dozen kernels; anything this large is not ours.
constexpr uint64_t kMaxFileBytes = 16 << 20;

JsonValue knobsToJson(const GemmKnobs &k) {
  JsonValue v = JsonValue::object();
  v.set("mr", JsonValue::integer(k.mr));
  v.set("nr", JsonValue::integer(k.nr));
  v.set("kc", JsonValue::integer(k.kc));
  v.set("mc", JsonValue::integer(k.mc));
  // The CUDA tile only when tuned (CPU files stay as they were).
  if (k.cuda != CudaGemmTile{}) {
    JsonValue t = JsonValue::array();
    for (int x : {k.cuda.bm, k.cuda.bn, k.cuda.bk})
      t.push(JsonValue::integer(x));
    if (k.cuda.cublas)
      t.push(JsonValue::integer(1)); // cuBLASLt runs it
    v.set("cuda_tile", std::move(t));
  }
  return v;
}

/// Knobs from JSON; only their form is checked here (whether they suit a
/// spec and an ISA is the caller's question, see cpu::chooseKnobs).
std::optional<GemmKnobs> knobsFromJson(const JsonValue *v) {
  if (!v || !v->isObject())
    return std::nullopt;
  GemmKnobs k;
  int *fields[] = {&k.mr, &k.nr, &k.kc, &k.mc};
  const char *names[] = {"mr", "nr", "kc", "mc"};
  for (int i = 0; i < 4; ++i) {
    const JsonValue *f = v->find(names[i]);
    if (!f || !f->isInteger() || f->asInt() < 1 || f->asInt() > 65536)
      return std::nullopt;
    *fields[i] = int(f->asInt());
  }
  if (const JsonValue *t = v->find("cuda_tile")) {
    if (!t->isArray() || (t->size() != 3 && t->size() != 4))
      return std::nullopt;
    if (t->size() == 4) {
      const JsonValue &x = (*t)[3];
      if (!x.isInteger() || (x.asInt() != 0 && x.asInt() != 1))
        return std::nullopt;
      k.cuda.cublas = x.asInt() == 1;
    }
    int *tile[] = {&k.cuda.bm, &k.cuda.bn, &k.cuda.bk};
    for (size_t i = 0; i < 3; ++i) {
      const JsonValue &x = (*t)[i];
      if (!x.isInteger() || x.asInt() < 1 || x.asInt() > 4096)
        return std::nullopt;
      *tile[i] = int(x.asInt());
    }
  }
  return k;
}

std::string stringField(const JsonValue &v, const char *name) {
  const JsonValue *f = v.find(name);
  return f && f->isString() ? f->asString() : std::string();
}

double numberField(const JsonValue &v, const char *name) {
  const JsonValue *f = v.find(name);
  return f && f->isNumber() ? f->asDouble() : 0.0;
}

} // namespace

TuningDevice TuningDevice::fromCpu(const CpuInfo &cpu) {
  return {cpu.deviceKey(), cpu.model, cpu.isaSummary(), cpu.threads};
}

TuningDevice TuningDevice::fromGpu(const std::string &name,
                                   const std::string &arch, int driverVersion) {
  std::string driver = std::to_string(driverVersion / 1000) + "." +
                       std::to_string(driverVersion % 1000 / 10);
  return {"cuda|" + name + "|" + arch + "|driver " +
              std::to_string(driverVersion),
          name, arch + ", driver " + driver, 1};
}

std::string utcTimestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TuningCache::TuningCache(std::string root, std::string target,
                         TuningDevice device)
    : root(std::move(root)), target(std::move(target)), dev(std::move(device)) {
  file = pathFor(this->root, this->target, dev.key);
}

TuningCache TuningCache::forHost() {
  return TuningCache(cacheRoot(), "cpu",
                     TuningDevice::fromCpu(CpuInfo::host()));
}

TuningCache TuningCache::forGpu(const TuningDevice &device) {
  return TuningCache(cacheRoot(), "cuda", device);
}

std::string TuningCache::pathFor(const std::string &root,
                                 const std::string &target,
                                 const std::string &deviceKey) {
  return root + "/tuning/" + target + "-" + fnv1a128(deviceKey).hex() + ".json";
}

void TuningCache::load() {
  entries.clear();
  version.clear();
  fromFile = false;
  if (::access(file.c_str(), F_OK) != 0 && errno == ENOENT)
    return;
  Result<std::string> text = readFile(file, kMaxFileBytes);
  if (!text) {
    std::fprintf(stderr,
                 "colm: warning: cannot read the tuning cache: %s; using "
                 "default knobs\n",
                 text.status().message().c_str());
    return;
  }
  parse(*text, /*quiet=*/false);
}

void TuningCache::parse(const std::string &text, bool quiet) {
  auto warn = [&](const std::string &what) {
    if (!quiet)
      std::fprintf(stderr,
                   "colm: warning: tuning cache %s: %s; ignoring it (the next "
                   "`colm tune` rewrites it)\n",
                   file.c_str(), what.c_str());
  };
  Result<JsonValue> doc = parseJson(text, file);
  if (!doc) {
    // The parser's message already names the file.
    if (!quiet)
      std::fprintf(stderr,
                   "colm: warning: damaged tuning cache: %s; ignoring it (the "
                   "next `colm tune` rewrites it)\n",
                   doc.status().message().c_str());
    return;
  }
  if (!doc->isObject() || stringField(*doc, "format") != kFormat)
    return warn("not a colm tuning cache");
  const JsonValue *fv = doc->find("format_version");
  if (!fv || !fv->isInteger() || fv->asInt() != kFormatVersion)
    return warn("format version is not " + std::to_string(kFormatVersion));
  if (stringField(*doc, "device_key") != dev.key)
    return warn("written for another device or thread count");
  const JsonValue *list = doc->find("kernels");
  if (!list || !list->isArray())
    return warn("no \"kernels\" array");
  std::vector<TunedKernel> read;
  for (size_t i = 0; i < list->size(); ++i) {
    const JsonValue &e = (*list)[i];
    std::optional<GemmKnobs> knobs, defaults;
    if (e.isObject()) {
      knobs = knobsFromJson(e.find("knobs"));
      defaults = knobsFromJson(e.find("default_knobs"));
    }
    TunedKernel k;
    if (e.isObject())
      k.shapeKey = stringField(e, "shape_key");
    if (!knobs || k.shapeKey.empty()) {
      if (!quiet)
        std::fprintf(stderr,
                     "colm: warning: tuning cache %s: kernel %zu has no shape "
                     "key or knobs; skipped\n",
                     file.c_str(), i);
      continue;
    }
    k.label = stringField(e, "label");
    k.knobs = *knobs;
    k.defaults = defaults.value_or(GemmKnobs{});
    k.ms = numberField(e, "ms");
    k.defaultMs = numberField(e, "default_ms");
    const JsonValue *t = e.find("tokens");
    k.dynamicSize = t && t->isInteger() ? t->asInt() : 0;
    k.date = stringField(e, "date");
    read.push_back(std::move(k));
  }
  entries = std::move(read);
  version = stringField(*doc, "colm_version");
  fromFile = true;
}

std::string TuningCache::toJson() const {
  JsonValue doc = JsonValue::object();
  doc.set("format", JsonValue::string(kFormat));
  doc.set("format_version", JsonValue::integer(kFormatVersion));
  doc.set("target", JsonValue::string(target));
  doc.set("device_key", JsonValue::string(dev.key));
  doc.set("cpu_model", JsonValue::string(dev.model));
  doc.set("isa", JsonValue::string(dev.isa));
  doc.set("threads", JsonValue::integer(dev.threads));
  doc.set("colm_version", JsonValue::string(COLM_VERSION));
  JsonValue list = JsonValue::array();
  for (const TunedKernel &k : entries) {
    JsonValue e = JsonValue::object();
    e.set("shape_key", JsonValue::string(k.shapeKey));
    e.set("label", JsonValue::string(k.label));
    e.set("knobs", knobsToJson(k.knobs));
    e.set("ms", JsonValue::number(k.ms));
    e.set("default_knobs", knobsToJson(k.defaults));
    e.set("default_ms", JsonValue::number(k.defaultMs));
    e.set("tokens", JsonValue::integer(k.dynamicSize));
    e.set("date", JsonValue::string(k.date));
    list.push(std::move(e));
  }
  doc.set("kernels", std::move(list));
  return writeJson(doc) + "\n";
}

Status TuningCache::save() const {
  // Another `colm tune` may have stored kernels since load(): keep those we
  // do not replace (the last writer still wins for one kernel).
  TuningCache merged(root, target, dev);
  if (Result<std::string> text = readFile(file, kMaxFileBytes))
    merged.parse(*text, /*quiet=*/true);
  for (const TunedKernel &k : entries)
    merged.store(k);
  COLM_TRY(makeDirectories(root + "/tuning"));
  return writeFileAtomic(file, merged.toJson())
      .withContext("writing the tuning cache");
}

Result<bool> TuningCache::clear() {
  entries.clear();
  fromFile = false;
  if (::unlink(file.c_str()) == 0)
    return true;
  if (errno == ENOENT)
    return false;
  return Status::error("cannot remove " + file + ": " + std::strerror(errno));
}

std::optional<GemmKnobs>
TuningCache::lookup(const std::string &shapeKey) const {
  if (const TunedKernel *k = find(shapeKey))
    return k->knobs;
  return std::nullopt;
}

const TunedKernel *TuningCache::find(const std::string &shapeKey) const {
  for (const TunedKernel &k : entries)
    if (k.shapeKey == shapeKey)
      return &k;
  return nullptr;
}

void TuningCache::store(TunedKernel kernel) {
  for (TunedKernel &k : entries)
    if (k.shapeKey == kernel.shapeKey) {
      k = std::move(kernel);
      return;
    }
  entries.push_back(std::move(kernel));
}

} // namespace colm::codegen
