//===- DynamicLibrary.h - A dlopen'ed shared object -------------*- C++ -*-===//
//
// Owns one dlopen handle (closed when the object dies). Move-only: a copy
// would close the handle twice.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_DYNAMICLIBRARY_H
#define COLM_RUNTIME_DYNAMICLIBRARY_H

#include "runtime/Status.h"

#include <string>

namespace colm {

class DynamicLibrary {
public:
  /// dlopen(path, RTLD_NOW | RTLD_LOCAL): every symbol is resolved now, so
  /// a missing one fails here rather than at the first call.
  static Result<DynamicLibrary> open(const std::string &path);

  DynamicLibrary(DynamicLibrary &&other) noexcept;
  DynamicLibrary &operator=(DynamicLibrary &&other) noexcept;
  DynamicLibrary(const DynamicLibrary &) = delete;
  DynamicLibrary &operator=(const DynamicLibrary &) = delete;
  ~DynamicLibrary();

  /// The address of `name` (an extern "C" symbol), or an error naming it.
  Result<void *> symbol(const std::string &name) const;

  /// symbol() cast to a function type: `lib.function<int(int, int)>("add")`.
  template <class Fn> Result<Fn *> function(const std::string &name) const {
    Result<void *> p = symbol(name);
    if (!p)
      return p.status();
    return reinterpret_cast<Fn *>(*p);
  }

  const std::string &path() const { return libPath; }

private:
  DynamicLibrary(void *handle, std::string path)
      : handle(handle), libPath(std::move(path)) {}
  void close();

  void *handle = nullptr;
  std::string libPath;
};

} // namespace colm

#endif // COLM_RUNTIME_DYNAMICLIBRARY_H
