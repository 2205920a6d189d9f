//===- DynamicLibrary.cpp - A dlopen'ed shared object ---------------------===//

#include "runtime/DynamicLibrary.h"

#include <dlfcn.h>
#include <mutex>

namespace colm {

// dlerror() is per thread in glibc but not everywhere; a lock keeps the call
// and the text it reports together.
static std::mutex &dlMutex() {
  static std::mutex m;
  return m;
}

Result<DynamicLibrary> DynamicLibrary::open(const std::string &path) {
  std::lock_guard<std::mutex> lock(dlMutex());
  ::dlerror();
  void *h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *err = ::dlerror();
    return Status::error("cannot load '" + path +
                         "': " + (err ? err : "dlopen failed"));
  }
  return DynamicLibrary(h, path);
}

DynamicLibrary::DynamicLibrary(DynamicLibrary &&other) noexcept
    : handle(other.handle), libPath(std::move(other.libPath)) {
  other.handle = nullptr;
}

DynamicLibrary &DynamicLibrary::operator=(DynamicLibrary &&other) noexcept {
  if (this != &other) {
    close();
    handle = other.handle;
    libPath = std::move(other.libPath);
    other.handle = nullptr;
  }
  return *this;
}

DynamicLibrary::~DynamicLibrary() { close(); }

void DynamicLibrary::close() {
  if (handle)
    ::dlclose(handle);
  handle = nullptr;
}

Result<void *> DynamicLibrary::symbol(const std::string &name) const {
  if (!handle)
    return Status::error("cannot look up '" + name +
                         "': the library was moved from");
  std::lock_guard<std::mutex> lock(dlMutex());
  ::dlerror();
  void *p = ::dlsym(handle, name.c_str());
  // A symbol may legitimately be null; dlerror() tells the two apart.
  if (const char *err = ::dlerror())
    return Status::error("symbol '" + name + "' not found in '" + libPath +
                         "': " + err);
  return p;
}

void *SymbolBinder::lookup(const char *symbol) const {
  return lib ? dlsym(lib, symbol) : nullptr;
}

} // namespace colm
