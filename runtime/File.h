//===- File.h - Whole-file I/O and atomic writes ----------------*- C++ -*-===//

#ifndef COLM_RUNTIME_FILE_H
#define COLM_RUNTIME_FILE_H

#include "runtime/Status.h"

#include <string>
#include <string_view>

namespace colm {

/// Reads the whole file at `path`.
Result<std::string> readFile(const std::string &path);

/// Writes `bytes` to `path` so that readers see either the old file or the
/// complete new one: write `path.tmp.<pid>` in the same directory, fsync it,
/// then rename over `path`.
Status writeFileAtomic(const std::string &path, std::string_view bytes);

/// Creates `path` and any missing parents (like `mkdir -p`).
Status makeDirectories(const std::string &path);

} // namespace colm

#endif // COLM_RUNTIME_FILE_H
