//===- File.cpp - Whole-file I/O and atomic writes ------------------------===//

#include "runtime/File.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace colm {

static std::string errnoText() { return std::strerror(errno); }

const char *fileKindName(unsigned mode) {
  switch (mode & S_IFMT) {
  case S_IFDIR:
    return "a directory";
  case S_IFCHR:
    return "a character device";
  case S_IFBLK:
    return "a block device";
  case S_IFIFO:
    return "a pipe (FIFO)";
  case S_IFSOCK:
    return "a socket";
  default:
    return "a special file";
  }
}

Result<std::string> readFile(const std::string &path, uint64_t maxBytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
  // below like every other file that is not a regular one.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return Status::error("cannot open '" + path + "': " + errnoText());
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    std::string msg = "cannot stat '" + path + "': " + errnoText();
    ::close(fd);
    return Status::error(msg);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error("cannot read '" + path + "': it is " +
                         fileKindName(st.st_mode) + ", not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > maxBytes) {
    ::close(fd);
    return Status::error("cannot read '" + path + "': it has " +
                         std::to_string(st.st_size) + " bytes, more than the " +
                         std::to_string(maxBytes) + " this reader accepts");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string bytes;
  if (st.st_size > 0)
    bytes.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      std::string msg = "cannot read '" + path + "': " + errnoText();
      ::close(fd);
      return Status::error(msg);
    }
    if (n == 0)
      break;
    // The file may grow while it is read: keep the bound.
    if (bytes.size() + static_cast<size_t>(n) > maxBytes) {
      ::close(fd);
      return Status::error("cannot read '" + path + "': it grew past " +
                           std::to_string(maxBytes) + " bytes while read");
    }
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

static std::string parentDirectory(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

namespace {
/// Writes all of `bytes` to the open `fd`; false with errno set on failure.
bool writeAll(int fd, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}
} // namespace

Status writeFileAtomic(const std::string &path, std::string_view bytes) {
  // A device or a pipe (-o /dev/null, /dev/stdout) is written in place:
  // renaming over it would replace the device with a regular file.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) &&
      !S_ISDIR(st.st_mode)) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
      return Status::error("cannot write '" + path + "': " + errnoText());
    bool ok = writeAll(fd, bytes);
    std::string msg = ok ? "" : "cannot write '" + path + "': " + errnoText();
    ::close(fd);
    return ok ? Status::ok() : Status::error(msg);
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::error("cannot write '" + path + "': cannot create '" + tmp +
                         "' in directory '" + parentDirectory(path) +
                         "': " + errnoText());
  if (!writeAll(fd, bytes)) {
    std::string msg = "cannot write '" + tmp + "': " + errnoText();
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::error(msg);
  }
  // fsync before rename so a crash cannot leave a renamed but empty file.
  if (::fsync(fd) != 0) {
    std::string msg = "cannot sync '" + tmp + "': " + errnoText();
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::error(msg);
  }
  if (::close(fd) != 0) {
    std::string msg = "cannot close '" + tmp + "': " + errnoText();
    ::unlink(tmp.c_str());
    return Status::error(msg);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string msg =
        "cannot rename '" + tmp + "' to '" + path + "': " + errnoText();
    ::unlink(tmp.c_str());
    return Status::error(msg);
  }
  // Make the rename itself durable; failure here is not worth reporting.
  int dirFd = ::open(parentDirectory(path).c_str(), O_RDONLY | O_CLOEXEC);
  if (dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
  return Status::ok();
}

Status makeDirectories(const std::string &path) {
  if (path.empty())
    return Status::error("cannot create directory: empty path");
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (prefix.empty() || prefix == "/")
      continue;
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return Status::error("cannot create directory '" + prefix +
                           "': " + errnoText());
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::error("cannot create directory '" + path +
                         "': a file with that name exists");
  return Status::ok();
}

} // namespace colm
