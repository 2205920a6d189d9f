//===- KernelCache.cpp - Content-addressed cache of kernel binaries -------===//

#include "compiler/codegen/KernelCache.h"

#include "runtime/File.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace colm {

//===----------------------------------------------------------------------===//
// Hashing
//===----------------------------------------------------------------------===//

std::string Hash128::hex() const {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx",
                static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

Fnv1a128 &Fnv1a128::update(std::string_view bytes) {
  using u128 = unsigned __int128;
  u128 v = (u128(h.hi) << 64) | h.lo;
  // The prime is 2^88 + 0x13b: a shift and a small multiply.
  for (unsigned char c : bytes) {
    v ^= c;
    v = (v << 88) + v * 0x13b;
  }
  h.hi = uint64_t(v >> 64);
  h.lo = uint64_t(v);
  return *this;
}

Fnv1a128 &Fnv1a128::addPart(std::string_view part) {
  char len[8];
  uint64_t n = part.size();
  for (int i = 0; i < 8; ++i)
    len[i] = char((n >> (8 * i)) & 0xff);
  update(std::string_view(len, 8));
  return update(part);
}

Hash128 fnv1a128(std::string_view bytes) {
  return Fnv1a128().update(bytes).digest();
}

CacheKey &CacheKey::add(std::string_view label, std::string_view value) {
  hasher.addPart(label);
  hasher.addPart(value);
  text.append(label);
  text += ": ";
  for (char c : value)
    if (c == '\n')
      text += "\\n";
    else
      text += c;
  text += '\n';
  return *this;
}

CacheKey &CacheKey::addHashed(std::string_view label, std::string_view value) {
  hasher.addPart(label);
  hasher.addPart(value);
  text.append(label);
  text += ": " + std::to_string(value.size()) + " bytes, fnv1a128 " +
          fnv1a128(value).hex() + "\n";
  return *this;
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

static std::string errnoText() { return std::strerror(errno); }

std::string cacheRoot() {
  std::string root;
  if (const char *env = std::getenv("COLM_CACHE_DIR"); env && *env)
    root = env;
  else if (const char *home = std::getenv("HOME"); home && *home)
    root = std::string(home) + "/.cache/colm";
  else
    root = "/tmp/colm-cache-" + std::to_string(::getuid());
  // Absolute, so paths in messages and dlopen do not depend on the cwd later.
  if (root[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd)))
      root = std::string(cwd) + "/" + root;
  }
  while (root.size() > 1 && root.back() == '/')
    root.pop_back();
  return root;
}

std::string kernelCacheRoot() {
  if (const char *env = std::getenv("COLM_KERNEL_CACHE_DIR"); env && *env) {
    std::string root = env;
    if (root[0] != '/') {
      char cwd[4096];
      if (::getcwd(cwd, sizeof(cwd)))
        root = std::string(cwd) + "/" + root;
    }
    return root;
  }
  return cacheRoot();
}

namespace {

struct FileDigest {
  uint64_t size = 0;
  Hash128 hash;
};

/// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  explicit Fd(int fd) : fd(fd) {}
  Fd(const Fd &) = delete;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace

/// Size and hash of a regular file, read in chunks; with `sync`, also
/// fsyncs it (before it is renamed into place).
static Result<FileDigest> digestFile(const std::string &path, bool sync) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (f.fd < 0)
    return Status::error("cannot open '" + path + "': " + errnoText());
  struct stat st;
  if (::fstat(f.fd, &st) != 0)
    return Status::error("cannot stat '" + path + "': " + errnoText());
  if (!S_ISREG(st.st_mode))
    return Status::error("'" + path + "' is " + fileKindName(st.st_mode) +
                         ", not a regular file");
  FileDigest d;
  Fnv1a128 h;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(f.fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return Status::error("cannot read '" + path + "': " + errnoText());
    }
    if (n == 0)
      break;
    h.update(std::string_view(buf, size_t(n)));
    d.size += uint64_t(n);
  }
  d.hash = h.digest();
  if (sync && ::fsync(f.fd) != 0)
    return Status::error("cannot sync '" + path + "': " + errnoText());
  return d;
}

static void syncDirectory(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

static bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

/// The names in `dir` (without "." and ".."), sorted.
static Result<std::vector<std::string>> listDirectory(const std::string &dir) {
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return Status::error("cannot list '" + dir + "': " + errnoText());
  std::vector<std::string> names;
  while (dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..")
      names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

static void removeTree(const std::string &path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

/// A name no other thread or process uses: pid plus a per-process counter.
static std::string uniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  return std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

//===----------------------------------------------------------------------===//
// The manifest
//===----------------------------------------------------------------------===//

static constexpr const char *kManifestHeader = "colm-kernel-cache 1";

/// Checks every file the manifest lists; the first problem goes to *why.
static bool verifyEntry(const std::string &entry, const std::string &keyHex,
                        std::string *why) {
  auto fail = [&](std::string reason) {
    if (why)
      *why = std::move(reason);
    return false;
  };
  std::string manifestPath = entry + "/" + KernelCache::kManifest;
  struct stat st;
  if (::stat(entry.c_str(), &st) != 0)
    return fail("no entry");
  Result<std::string> text = readFile(manifestPath, 1 << 20);
  if (!text)
    return fail("no readable manifest (" + text.status().message() + ")");
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t nl = text->find('\n', pos);
    if (nl == std::string::npos)
      return fail("manifest does not end with a newline");
    lines.push_back(text->substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.size() < 3 || lines.front() != kManifestHeader ||
      lines[1] != "key " + keyHex || lines.back() != "end")
    return fail("malformed manifest");
  for (size_t i = 2; i + 1 < lines.size(); ++i) {
    // file <size> <hash> <name>
    unsigned long long size = 0;
    char hash[33] = {0};
    int nameAt = 0;
    if (std::sscanf(lines[i].c_str(), "file %llu %32s %n", &size, hash,
                    &nameAt) != 2 ||
        nameAt == 0)
      return fail("malformed manifest line '" + lines[i] + "'");
    std::string name = lines[i].substr(size_t(nameAt));
    if (name.empty() || name.find('/') != std::string::npos)
      return fail("malformed manifest line '" + lines[i] + "'");
    Result<FileDigest> d = digestFile(entry + "/" + name, false);
    if (!d)
      return fail(d.status().message());
    if (d->size != size)
      return fail("'" + name + "' has " + std::to_string(d->size) +
                  " bytes, the manifest says " + std::to_string(size));
    if (d->hash.hex() != hash)
      return fail("'" + name + "' does not match its hash");
  }
  return true;
}

/// Hashes and fsyncs every file the builder left and writes the manifest.
static Status writeManifest(const std::string &tmp, const std::string &keyHex) {
  COLM_ASSIGN_OR_RETURN(std::vector<std::string> names, listDirectory(tmp));
  std::string text = std::string(kManifestHeader) + "\nkey " + keyHex + "\n";
  for (const std::string &name : names) {
    if (name == KernelCache::kManifest)
      return Status::error("the builder wrote '" + name +
                           "', a name the cache keeps for itself");
    if (name.find_first_of(" \t\r\n") != std::string::npos)
      return Status::error("cache entry file name '" + name +
                           "' contains white space");
    Result<FileDigest> d = digestFile(tmp + "/" + name, true);
    if (!d)
      return d.status().withContext("cannot add a file to the cache entry");
    text += "file " + std::to_string(d->size) + " " + d->hash.hex() + " " +
            name + "\n";
  }
  text += "end\n";
  return writeFileAtomic(tmp + "/" + KernelCache::kManifest, text);
}

//===----------------------------------------------------------------------===//
// KernelCache
//===----------------------------------------------------------------------===//

KernelCache::KernelCache(std::string root, std::string target) {
  for (char &c : target)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      c = '_';
  if (target.empty())
    target = "_";
  dir = root + "/kernels/" + target;
}

KernelCache KernelCache::forTarget(std::string target) {
  return KernelCache(cacheRoot(), std::move(target));
}

std::string KernelCache::entryPath(const CacheKey &key) const {
  return dir + "/" + key.hex();
}

std::optional<std::string> KernelCache::lookup(const CacheKey &key,
                                               std::string *why) const {
  std::string entry = entryPath(key);
  if (!verifyEntry(entry, key.hex(), why))
    return std::nullopt;
  return entry;
}

Status KernelCache::remove(const CacheKey &key) const {
  std::string entry = entryPath(key);
  if (!exists(entry))
    return Status::ok();
  // Renamed away first, so no reader sees it half deleted.
  std::string trash = dir + "/.trash-" + key.hex() + "-" + uniqueSuffix();
  if (::rename(entry.c_str(), trash.c_str()) != 0) {
    if (errno == ENOENT)
      return Status::ok();
    return Status::error("cannot remove cache entry '" + entry +
                         "': " + errnoText());
  }
  removeTree(trash);
  return Status::ok();
}

/// Removes temporaries of builds that died (a crash, a kill) over an hour ago.
static void removeStaleTemporaries(const std::string &dir) {
  Result<std::vector<std::string>> names = listDirectory(dir);
  if (!names)
    return;
  time_t now = std::time(nullptr);
  for (const std::string &name : *names) {
    if (name.rfind(".tmp-", 0) != 0 && name.rfind(".trash-", 0) != 0)
      continue;
    struct stat st;
    std::string path = dir + "/" + name;
    if (::lstat(path.c_str(), &st) == 0 && now - st.st_mtime > 3600)
      removeTree(path);
  }
}

Result<KernelCache::Entry> KernelCache::buildOnce(const CacheKey &key,
                                                  const Builder &build,
                                                  bool &cacheVanished) const {
  std::string hex = key.hex();
  std::string entry = entryPath(key);
  COLM_TRY(makeDirectories(dir));

  // The lock only saves duplicate work; correctness comes from the rename.
  // O_CLOEXEC: a compiler spawned meanwhile must not inherit (and hold) it.
  Fd lock(-1);
  if (locking) {
    lock.fd = ::open((dir + "/" + hex + ".lock").c_str(),
                     O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    while (lock.fd >= 0 && ::flock(lock.fd, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  // Whoever held the lock may have built it meanwhile.
  std::string why;
  if (std::optional<std::string> done = lookup(key, &why))
    return Entry{*done, true};
  if (exists(entry))
    std::fprintf(stderr, "colm: cache entry %s is damaged (%s); rebuilding\n",
                 entry.c_str(), why.c_str());

  std::string tmp = dir + "/.tmp-" + hex + "-" + uniqueSuffix();
  if (::mkdir(tmp.c_str(), 0755) != 0) {
    cacheVanished = errno == ENOENT;
    return Status::error("cannot create '" + tmp + "': " + errnoText());
  }
  Status built = build(tmp);
  if (built)
    built = writeManifest(tmp, hex);
  if (!built) {
    cacheVanished = !exists(tmp);
    removeTree(tmp);
    return built;
  }
  syncDirectory(tmp);

  // A damaged entry is in the way of the rename.
  if (exists(entry) && !lookup(key))
    COLM_TRY(remove(key));
  if (::rename(tmp.c_str(), entry.c_str()) != 0) {
    int err = errno;
    removeTree(tmp);
    if (err == ENOTEMPTY || err == EEXIST) {
      // Another builder won the race: use its entry.
      std::string why;
      if (std::optional<std::string> other = lookup(key, &why))
        return Entry{*other, false};
      return Status::error("cache entry '" + entry +
                           "' was published by another process but is "
                           "damaged: " +
                           why);
    }
    cacheVanished = err == ENOENT;
    return Status::error("cannot rename '" + tmp + "' to '" + entry +
                         "': " + std::strerror(err));
  }
  syncDirectory(dir);
  removeStaleTemporaries(dir);
  return Entry{entry, false};
}

Result<KernelCache::Entry> KernelCache::getOrBuild(const CacheKey &key,
                                                   const Builder &build) const {
  if (std::optional<std::string> entry = lookup(key))
    return Entry{*entry, true};
  // Deleting the cache while a build runs takes its temporary directory
  // with it: build once more from scratch.
  for (int attempt = 0;; ++attempt) {
    bool vanished = false;
    Result<Entry> r = buildOnce(key, build, vanished);
    if (r || !vanished || attempt == 2)
      return r;
  }
}

} // namespace colm
