//===- File.h - Whole-file I/O and atomic writes ----------------*- C++ -*-===//

#ifndef COLM_RUNTIME_FILE_H
#define COLM_RUNTIME_FILE_H

#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace colm {

/// Reads the whole file at `path`, which must be a regular file (a device, a
/// FIFO or a directory is refused at once, so `/dev/zero` cannot be read
/// forever) of at most `maxBytes` bytes.
Result<std::string> readFile(const std::string &path,
                             uint64_t maxBytes = UINT64_MAX);

/// "a directory", "a character device", ... for a stat() st_mode.
const char *fileKindName(unsigned mode);

/// Writes `bytes` to `path` so that readers see either the old file or the
/// complete new one: write `path.tmp.<pid>` in the same directory, fsync it,
/// then rename over `path`. A device or a pipe at `path` (/dev/null,
/// /dev/stdout) is written in place instead.
Status writeFileAtomic(const std::string &path, std::string_view bytes);

/// Creates `path` and any missing parents (like `mkdir -p`).
Status makeDirectories(const std::string &path);

} // namespace colm

#endif // COLM_RUNTIME_FILE_H
