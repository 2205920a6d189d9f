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

/// Points function pointers at the symbols of a dlopen handle: `bind(fn,
/// "name")` for each, then one message can name every missing symbol
/// (`missing()`), instead of failing at the first.
class SymbolBinder {
public:
  explicit SymbolBinder(void *handle) : lib(handle) {}
  /// `optional`: a missing symbol leaves `fn` null and is not reported.
  template <class Fn>
  void operator()(Fn *&fn, const char *symbol, bool optional = false) {
    fn = reinterpret_cast<Fn *>(lookup(symbol));
    if (!fn && !optional)
      missingList += (missingList.empty() ? "" : ", ") + std::string(symbol);
  }
  bool ok() const { return missingList.empty(); }
  /// "a, b, c": the required symbols not found.
  const std::string &missing() const { return missingList; }

private:
  void *lookup(const char *symbol) const;
  void *lib;
  std::string missingList;
};

} // namespace colm

#endif // COLM_RUNTIME_DYNAMICLIBRARY_H
