//===- Checkpoint.cpp - Training checkpoints, written atomically ----------===//

#include "runtime/Checkpoint.h"

#include "runtime/File.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace colm {

namespace fs = std::filesystem;

static const char *kStateJson = "training_state.json";
static const char *kStateTensors = "training_state.safetensors";

namespace {

/// The sibling paths of an atomic directory save.
struct SavePaths {
  std::string dir, parent, tmp, backup;
};

SavePaths savePaths(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  SavePaths p;
  p.dir = dir;
  size_t slash = dir.find_last_of('/');
  std::string base = slash == std::string::npos ? dir : dir.substr(slash + 1);
  p.parent = slash == std::string::npos ? "."
             : slash == 0               ? "/"
                                        : dir.substr(0, slash);
  std::string prefix =
      slash == std::string::npos ? "" : dir.substr(0, slash + 1);
  p.tmp = prefix + "." + base + ".tmp";
  p.backup = prefix + "." + base + ".old";
  return p;
}

bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string errnoText() { return std::strerror(errno); }

Status removeTree(const std::string &path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec)
    return Status::error("cannot remove '" + path + "': " + ec.message());
  return Status::ok();
}

void syncDirectory(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

Status renamePath(const std::string &from, const std::string &to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return Status::error("cannot rename '" + from + "' to '" + to +
                         "': " + errnoText());
  return Status::ok();
}

/// Finishes an interrupted save: a missing `dir` with a backup next to it
/// gets the backup back; a leftover temporary directory is removed.
Status recover(const SavePaths &p) {
  if (!exists(p.dir) && isDirectory(p.backup))
    COLM_TRY(renamePath(p.backup, p.dir));
  // Both present: a save finished its swap but not its clean-up; the backup
  // is the older checkpoint and would block the next fallback rename.
  if (isDirectory(p.dir) && isDirectory(p.backup))
    COLM_TRY(removeTree(p.backup));
  if (exists(p.tmp))
    COLM_TRY(removeTree(p.tmp));
  return Status::ok();
}

bool isCheckpointFile(const std::string &name) {
  static const std::set<std::string> names = {
      "config.json", "model.safetensors", "tokenizer.json", kStateJson,
      kStateTensors};
  return names.count(name) != 0;
}

/// The names of the extra regular files of an existing `dir`, after checking
/// that replacing it cannot lose anything that is not ours to replace.
Result<std::vector<std::string>> extraFiles(const std::string &dir) {
  std::vector<std::string> extra;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec)
    return Status::error("cannot read directory '" + dir +
                         "': " + ec.message());
  bool empty = true, hasConfig = false;
  for (; it != end; it.increment(ec)) {
    if (ec)
      return Status::error("cannot read directory '" + dir +
                           "': " + ec.message());
    empty = false;
    std::string name = it->path().filename().string();
    if (name == "config.json")
      hasConfig = true;
    if (isCheckpointFile(name))
      continue;
    std::error_code tec;
    if (!it->is_regular_file(tec) || it->is_symlink(tec))
      return Status::error("refusing to replace '" + dir + "': it contains '" +
                           name +
                           "', which is not a regular file; save the "
                           "checkpoint to another directory");
    extra.push_back(name);
  }
  if (!empty && !hasConfig)
    return Status::error("refusing to replace '" + dir +
                         "': it is not empty and not a model directory (no "
                         "config.json); save the checkpoint to another "
                         "directory");
  return extra;
}

std::string hex64(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(x));
  return buf;
}

std::string stateJson(const TrainingState &s) {
  JsonValue root = JsonValue::object();
  root.set("format", JsonValue::string("colm-training-state"));
  root.set("version", JsonValue::integer(1));
  root.set("step", JsonValue::integer(s.step));
  root.set("seed", JsonValue::string(std::to_string(s.seed)));
  JsonValue rng = JsonValue::array();
  for (uint64_t w : s.samplerRng)
    rng.push(JsonValue::string(hex64(w)));
  root.set("sampler_rng", std::move(rng));
  root.set("args", s.args);
  return writeJson(root, 2);
}

bool parseUnsigned(const std::string &text, int base, uint64_t &out) {
  if (text.empty() || text.size() > 20)
    return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, base);
  if (errno != 0 || *end != '\0' || text[0] == '-' || text[0] == '+' ||
      text[0] == ' ')
    return false;
  out = v;
  return true;
}

Status parseStateJson(std::string_view text, const std::string &path,
                      TrainingState &s) {
  COLM_ASSIGN_OR_RETURN(JsonValue root, parseJson(text, path));
  auto bad = [&](const std::string &what) {
    return Status::error(path + ": " + what);
  };
  if (!root.isObject())
    return bad("must be a JSON object");
  const JsonValue *format = root.find("format");
  if (!format || !format->isString() ||
      format->asString() != "colm-training-state")
    return bad("\"format\" must be \"colm-training-state\"");
  const JsonValue *version = root.find("version");
  if (!version || !version->isInteger() || version->asInt() != 1)
    return bad("unsupported \"version\" (this build reads version 1)");
  const JsonValue *step = root.find("step");
  if (!step || !step->isInteger() || step->asInt() < 0)
    return bad("\"step\" must be a non-negative integer");
  s.step = step->asInt();
  const JsonValue *seed = root.find("seed");
  if (!seed || !seed->isString() ||
      !parseUnsigned(seed->asString(), 10, s.seed))
    return bad("\"seed\" must be a decimal uint64 in a string");
  const JsonValue *rng = root.find("sampler_rng");
  if (!rng || !rng->isArray() || rng->size() != 4)
    return bad("\"sampler_rng\" must be an array of 4 hex strings");
  for (size_t i = 0; i < 4; ++i)
    if (!(*rng)[i].isString() || (*rng)[i].asString().size() != 16 ||
        !parseUnsigned((*rng)[i].asString(), 16, s.samplerRng[i]))
      return bad("\"sampler_rng\"[" + std::to_string(i) +
                 "] must be a string of 16 hex digits");
  const JsonValue *args = root.find("args");
  if (!args || !args->isObject())
    return bad("\"args\" must be an object");
  s.args = *args;
  return Status::ok();
}

Status writeAll(const std::string &dir, const Model &model,
                const TrainingState &state, const Tokenizer &tokenizer) {
  COLM_TRY(saveModel(dir, model));
  COLM_TRY(saveTokenizer(dir, tokenizer));
  COLM_TRY(writeSafetensors(dir + "/" + kStateTensors, state.optimizer));
  return writeFileAtomic(dir + "/" + kStateJson, stateJson(state));
}

/// Writes a new version of `p.dir` through `write` (called with the temporary
/// sibling directory) and swaps it in atomically as a whole. `extra` names
/// regular files of the old version that the new one keeps (hard links).
Status replaceDirectory(const SavePaths &p, bool replacing,
                        const std::vector<std::string> &extra,
                        const std::function<Status(const std::string &)> &write,
                        const std::string &what) {
  if (::mkdir(p.tmp.c_str(), 0755) != 0)
    return Status::error("cannot save " + what + " '" + p.dir +
                         "': cannot create '" + p.tmp + "': " + errnoText());
  auto fail = [&](const Status &st) {
    (void)removeTree(p.tmp);
    return st.withContext("cannot save " + what + " '" + p.dir + "'");
  };
  Status written = write(p.tmp);
  if (!written)
    return fail(written);
  for (const std::string &name : extra) {
    std::string from = p.dir + "/" + name, to = p.tmp + "/" + name;
    if (::link(from.c_str(), to.c_str()) != 0)
      return fail(Status::error("cannot keep '" + from + "' (hard link to '" +
                                to + "'): " + errnoText()));
  }
  syncDirectory(p.tmp);

  if (!replacing) {
    Status st = renamePath(p.tmp, p.dir);
    if (!st)
      return fail(st);
  } else if (::renameat2(AT_FDCWD, p.tmp.c_str(), AT_FDCWD, p.dir.c_str(),
                         RENAME_EXCHANGE) == 0) {
    // p.tmp now holds the old version.
    syncDirectory(p.parent);
    (void)removeTree(p.tmp);
  } else {
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
      return fail(Status::error("cannot swap '" + p.tmp + "' into '" + p.dir +
                                "': " + errnoText()));
    // No atomic exchange here: two renames, recoverable through the backup.
    Status st = renamePath(p.dir, p.backup);
    if (!st)
      return fail(st);
    syncDirectory(p.parent);
    st = renamePath(p.tmp, p.dir);
    if (!st) {
      (void)renamePath(p.backup, p.dir);
      return fail(st);
    }
    syncDirectory(p.parent);
    (void)removeTree(p.backup);
  }
  syncDirectory(p.parent);
  return Status::ok();
}

} // namespace

Status saveCheckpoint(const std::string &dirArg, const Model &model,
                      const TrainingState &state, const Tokenizer &tokenizer,
                      bool keepOtherFiles) {
  if (dirArg.empty())
    return Status::error("cannot save a checkpoint: empty directory name");
  SavePaths p = savePaths(dirArg);
  // Check what can be checked before touching the file system.
  COLM_TRY(validateConfig(model.config).withContext(p.dir));
  COLM_TRY(checkParams(model.config, model.params, p.dir));
  if (state.step < 0)
    return Status::error(p.dir + ": the training step must be non-negative");
  if (!state.args.isObject())
    return Status::error(p.dir + ": the run arguments must be a JSON object");
  COLM_TRY(makeDirectories(p.parent).withContext("cannot save checkpoint '" +
                                                 p.dir + "'"));
  COLM_TRY(recover(p));

  std::vector<std::string> extra;
  bool replacing = exists(p.dir);
  if (replacing) {
    if (!isDirectory(p.dir))
      return Status::error("cannot save checkpoint '" + p.dir +
                           "': a file with that name exists");
    COLM_ASSIGN_OR_RETURN(extra, extraFiles(p.dir));
    if (!keepOtherFiles)
      extra.clear();
  }
  return replaceDirectory(
      p, replacing, extra,
      [&](const std::string &tmp) {
        return writeAll(tmp, model, state, tokenizer);
      },
      "checkpoint");
}

Status
writeModelDirectory(const std::string &dirArg, bool replace,
                    const std::function<Status(const std::string &)> &write) {
  if (dirArg.empty())
    return Status::error("cannot write a model: empty directory name");
  SavePaths p = savePaths(dirArg);
  COLM_TRY(makeDirectories(p.parent).withContext("cannot write model '" +
                                                 p.dir + "'"));
  // Not while a training run writes there (nor two of these at once).
  COLM_ASSIGN_OR_RETURN(
      DirectoryLock lock,
      DirectoryLock::acquire(p.dir, "colm, writing a model to " + p.dir));
  COLM_TRY(recover(p));
  COLM_TRY(checkModelDirectoryWritable(p.dir, replace));
  return replaceDirectory(p, exists(p.dir), {}, write, "model");
}

Status checkModelDirectoryWritable(const std::string &dirArg, bool replace) {
  SavePaths p = savePaths(dirArg);
  if (!exists(p.dir))
    return Status::ok();
  if (!isDirectory(p.dir))
    return Status::error("cannot write model '" + p.dir +
                         "': a file with that name exists");
  // Only a model directory (or an empty one) is ours to replace, even with
  // --force: never delete a directory of the user's files.
  COLM_ASSIGN_OR_RETURN(std::vector<std::string> extra, extraFiles(p.dir));
  (void)extra;
  std::error_code ec;
  if (!fs::is_empty(p.dir, ec) && !replace)
    return Status::error(
        p.dir + " already holds a " +
        (isTrainingCheckpoint(p.dir) ? "training checkpoint" : "model") +
        " (use --force to replace it)");
  return Status::ok();
}

Status saveModelDirectory(const std::string &dir, const Model &model,
                          const Tokenizer &tokenizer, bool replace) {
  COLM_TRY(validateConfig(model.config).withContext(dir));
  COLM_TRY(checkParams(model.config, model.params, dir));
  return writeModelDirectory(dir, replace, [&](const std::string &tmp) {
    COLM_TRY(saveModel(tmp, model));
    return saveTokenizer(tmp, tokenizer);
  });
}

Result<Checkpoint> loadCheckpoint(const std::string &dirArg) {
  SavePaths p = savePaths(dirArg);
  std::string dir = p.dir;
  if (!exists(dir) && isDirectory(p.backup))
    dir = p.backup; // an interrupted save left the old checkpoint here
  if (!isDirectory(dir))
    return Status::error("cannot open checkpoint '" + p.dir +
                         "': no such directory");
  std::string statePath = dir + "/" + kStateJson;
  if (!exists(statePath))
    return Status::error(p.dir + " is a model, not a training checkpoint (no " +
                         kStateJson +
                         "); start a new run with --model instead of --resume");
  Checkpoint ck;
  COLM_ASSIGN_OR_RETURN(ck.model, loadModel(dir));
  COLM_ASSIGN_OR_RETURN(ck.tokenizer, loadTokenizer(dir));
  COLM_ASSIGN_OR_RETURN(std::string text, readFile(statePath));
  COLM_TRY(parseStateJson(text, statePath, ck.state));
  std::string tensorsPath = dir + "/" + kStateTensors;
  if (!exists(tensorsPath))
    return Status::error(p.dir + ": the training checkpoint has " + kStateJson +
                         " but no " + kStateTensors + " (the optimizer state)");
  COLM_ASSIGN_OR_RETURN(ck.state.optimizer, readSafetensors(tensorsPath));
  return ck;
}

Status parseTrainingState(std::string_view text, const std::string &path,
                          TrainingState &state) {
  return parseStateJson(text, path, state);
}

bool isTrainingCheckpoint(const std::string &dirArg) {
  SavePaths p = savePaths(dirArg);
  std::string dir = p.dir;
  if (!exists(dir) && isDirectory(p.backup))
    dir = p.backup;
  return exists(dir + "/" + kStateJson);
}

Result<DirectoryLock> DirectoryLock::acquire(const std::string &dirArg,
                                             const std::string &holder) {
  SavePaths p = savePaths(dirArg);
  COLM_TRY(makeDirectories(p.parent));
  size_t slash = p.dir.find_last_of('/');
  std::string base =
      slash == std::string::npos ? p.dir : p.dir.substr(slash + 1);
  std::string path =
      (slash == std::string::npos ? std::string() : p.parent + "/") + "." +
      base + ".lock";
  // The holder removes the file when it is done, so a lock taken on a file
  // that was meanwhile unlinked (or replaced) is no lock: take it again.
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return Status::error("cannot lock '" + p.dir + "': cannot open '" + path +
                           "': " + errnoText());
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char buf[512] = {0};
      ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
      ::close(fd);
      if (err != EWOULDBLOCK)
        return Status::error("cannot lock '" + p.dir + "' (" + path +
                             "): " + std::strerror(err));
      std::string who = n > 0 ? std::string(buf, static_cast<size_t>(n))
                              : std::string("another process");
      while (!who.empty() && (who.back() == '\n' || who.back() == ' '))
        who.pop_back();
      return Status::error(p.dir + " is in use by " + who +
                           "; wait for it to finish, or write to another "
                           "directory");
    }
    struct stat held, named;
    if (::fstat(fd, &held) != 0 || ::stat(path.c_str(), &named) != 0 ||
        held.st_ino != named.st_ino || held.st_dev != named.st_dev) {
      ::close(fd);
      continue;
    }
    std::string text =
        "pid " + std::to_string(::getpid()) + " (" + holder + ")\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) !=
                                       static_cast<ssize_t>(text.size())) {
      // The lock holds without its note; only a message would be poorer.
    }
    return DirectoryLock(fd, path);
  }
  return Status::error("cannot lock '" + p.dir + "': " + path +
                       " keeps changing");
}

void DirectoryLock::release() {
  if (fd < 0)
    return;
  ::unlink(path.c_str()); // while still held: nobody can take a stale copy
  ::close(fd);            // releases the flock
  fd = -1;
}

DirectoryLock &DirectoryLock::operator=(DirectoryLock &&other) noexcept {
  if (this != &other) {
    release();
    fd = other.fd;
    path = std::move(other.path);
    other.fd = -1;
  }
  return *this;
}

DirectoryLock::~DirectoryLock() { release(); }

} // namespace colm
