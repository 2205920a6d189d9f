//===- Status.h - Error handling without exceptions -------------*- C++ -*-===//
//
// The runtime is linked with code built without exceptions, so every fallible
// function returns a Status or a Result<T>. Messages are one line and say what
// went wrong and where (file, tensor, JSON position, dimension).
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_STATUS_H
#define COLM_RUNTIME_STATUS_H

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace colm {

class [[nodiscard]] Status {
public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.failed = true;
    s.msg = std::move(message);
    return s;
  }

  bool isOk() const { return !failed; }
  explicit operator bool() const { return isOk(); }
  const std::string &message() const { return msg; }

  /// Returns a copy whose message is "<prefix>: <message>", to add context
  /// (a file path, a tensor name) as the error travels up.
  Status withContext(const std::string &prefix) const {
    if (isOk())
      return *this;
    return error(prefix + ": " + msg);
  }

private:
  bool failed = false;
  std::string msg;
};

template <class T> class [[nodiscard]] Result {
public:
  Result(T value) : value(std::move(value)) {}
  Result(Status status) : st(std::move(status)) {
    assert(!st.isOk() && "a Result built from a Status must be an error");
    if (st.isOk())
      st = Status::error("internal error: Result built from an ok Status");
  }

  bool isOk() const { return value.has_value(); }
  explicit operator bool() const { return isOk(); }
  const Status &status() const { return st; }

  T &operator*() {
    assert(value && "dereferencing an error Result");
    return *value;
  }
  const T &operator*() const {
    assert(value && "dereferencing an error Result");
    return *value;
  }
  T *operator->() { return &**this; }
  const T *operator->() const { return &**this; }

  /// Moves the value out; the Result must hold one.
  T take() {
    assert(value && "taking from an error Result");
    return std::move(*value);
  }

private:
  std::optional<T> value;
  Status st;
};

} // namespace colm

/// Evaluates a Status expression and returns it from the enclosing function
/// if it is an error.
#define COLM_TRY(expr)                                                         \
  do {                                                                         \
    ::colm::Status colmTryStatus_ = (expr);                                    \
    if (!colmTryStatus_.isOk())                                                \
      return colmTryStatus_;                                                   \
  } while (0)

#define COLM_CONCAT_IMPL(a, b) a##b
#define COLM_CONCAT(a, b) COLM_CONCAT_IMPL(a, b)

/// `COLM_ASSIGN_OR_RETURN(auto x, makeResult());` declares x from the value
/// of a Result, or returns its Status from the enclosing function.
#define COLM_ASSIGN_OR_RETURN(decl, expr)                                      \
  COLM_ASSIGN_OR_RETURN_IMPL(COLM_CONCAT(colmResult_, __LINE__), decl, expr)
#define COLM_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr)                            \
  auto tmp = (expr);                                                           \
  if (!tmp.isOk())                                                             \
    return tmp.status();                                                       \
  decl = tmp.take()

#endif // COLM_RUNTIME_STATUS_H
