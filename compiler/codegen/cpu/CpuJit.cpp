//===- CpuJit.cpp - Compile rendered C++ kernels and load them ------------===//

#include "compiler/codegen/cpu/CpuJit.h"

#include "runtime/CpuInfo.h"
#include "runtime/File.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#ifndef COLM_VERSION
#define COLM_VERSION "unknown"
#endif

extern char **environ;

namespace colm {

static double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

static std::string formatSeconds(double s) {
  char buf[32];
  if (s < 1)
    std::snprintf(buf, sizeof(buf), "%.1f ms", s * 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.2f s", s);
  return buf;
}

std::string JitStats::summary() const {
  std::string s = std::to_string(requested) + " kernel" +
                  (requested == 1 ? "" : "s") + ": " +
                  std::to_string(cacheHits) + " cached, " +
                  std::to_string(compiled) + " compiled";
  if (compiled)
    s += " in " + formatSeconds(compileSeconds);
  s += "; loaded in " + formatSeconds(loadSeconds);
  if (overridden)
    s += " (" + std::to_string(overridden) + " from the override directory)";
  return s;
}

//===----------------------------------------------------------------------===//
// Running the compiler
//===----------------------------------------------------------------------===//

namespace {

struct ProcessResult {
  int waitStatus = 0;
  std::string output; ///< stdout and stderr together
};

} // namespace

/// Runs argv (argv[0] an absolute path) with stdin from /dev/null and
/// returns its combined output, of which the first 1 MiB is kept.
static Result<ProcessResult> runProcess(const std::vector<std::string> &argv) {
  int fds[2];
  // O_CLOEXEC: a compiler spawned by another thread must not inherit the
  // write end, or this reader would wait for that one to exit too.
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return Status::error(std::string("cannot create a pipe: ") +
                         std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::vector<char *> args;
  for (const std::string &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc =
      ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return Status::error("cannot run '" + argv[0] + "': " + std::strerror(rc));
  }
  ProcessResult r;
  char buf[1 << 14];
  while (true) {
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (r.output.size() < (1u << 20))
      r.output.append(buf, size_t(n));
  }
  ::close(fds[0]);
  while (::waitpid(pid, &r.waitStatus, 0) < 0) {
    if (errno != EINTR)
      return Status::error("cannot wait for '" + argv[0] +
                           "': " + std::strerror(errno));
  }
  return r;
}

static std::string describeWaitStatus(int status) {
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

static std::vector<std::string> splitWords(const std::string &s) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    size_t b = s.find_first_not_of(" \t\n", i);
    if (b == std::string::npos)
      break;
    size_t e = s.find_first_of(" \t\n", b);
    if (e == std::string::npos)
      e = s.size();
    words.push_back(s.substr(b, e - b));
    i = e;
  }
  return words;
}

static bool isExecutable(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

/// `name` itself if it has a '/', else the first match on PATH; "" if none.
static std::string findProgram(const std::string &name) {
  if (name.find('/') != std::string::npos)
    return isExecutable(name) ? name : "";
  const char *path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= dirs.size()) {
    size_t colon = dirs.find(':', pos);
    if (colon == std::string::npos)
      colon = dirs.size();
    std::string dir = dirs.substr(pos, colon - pos);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (isExecutable(candidate))
      return candidate;
    pos = colon + 1;
  }
  return "";
}

/// The compiler's first error lines (at most three), with the temporary
/// source path replaced by the one the user can open.
static std::string firstErrorLines(std::string log, const std::string &tmpSrc,
                                   const std::string &shownSrc) {
  for (size_t at = 0; (at = log.find(tmpSrc, at)) != std::string::npos;
       at += shownSrc.size())
    log.replace(at, tmpSrc.size(), shownSrc);
  std::vector<std::string> lines, errors;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t nl = log.find('\n', pos);
    if (nl == std::string::npos)
      nl = log.size();
    std::string line = log.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    lines.push_back(line);
    if (line.find("error") != std::string::npos && errors.size() < 3)
      errors.push_back(line);
  }
  if (errors.empty())
    errors.assign(lines.begin(),
                  lines.begin() + std::min<size_t>(3, lines.size()));
  std::string out;
  for (const std::string &e : errors)
    out += (out.empty() ? "" : " | ") + e;
  return out.empty() ? "(no output)" : out;
}

//===----------------------------------------------------------------------===//
// CpuJit
//===----------------------------------------------------------------------===//

CpuJitOptions CpuJitOptions::fromEnvironment() {
  CpuJitOptions o;
  auto env = [](const char *name) -> std::string {
    const char *v = std::getenv(name);
    return v ? v : "";
  };
  o.compiler = env("COLM_CXX");
  o.cacheRoot = colm::kernelCacheRoot();
  o.dumpDir = env("COLM_DUMP_KERNELS");
  o.overrideDir = env("COLM_KERNEL_OVERRIDE_DIR");
  return o;
}

std::vector<std::string> CpuJit::baseFlags() {
  return {"-O3",     "-march=native", "-fPIC",
          "-shared", "-std=c++17",    "-fno-exceptions"};
}

CpuJit::CpuJit(CpuJitOptions options, std::vector<std::string> command,
               std::string version)
    : opts(std::move(options)), command(std::move(command)),
      version(std::move(version)), kernelCache(opts.cacheRoot, "cpu") {}

Result<CpuJit> CpuJit::create() {
  return create(CpuJitOptions::fromEnvironment());
}

Result<CpuJit> CpuJit::create(CpuJitOptions options) {
  std::vector<std::string> words = splitWords(options.compiler);
  if (words.empty()) {
    for (const char *candidate : {"clang++-19", "c++"})
      if (std::string found = findProgram(candidate); !found.empty()) {
        words = {found};
        break;
      }
    if (words.empty())
      return Status::error("no C++ compiler for the CPU kernels: neither "
                           "clang++-19 nor c++ is on PATH (install clang-19, "
                           "as tools/dev.sh does, or set COLM_CXX)");
  } else {
    std::string found = findProgram(words[0]);
    if (found.empty())
      return Status::error(
          "COLM_CXX='" + options.compiler + "': '" + words[0] +
          "' is not an executable " +
          (words[0].find('/') != std::string::npos ? "file" : "on PATH"));
    words[0] = found;
  }
  if (options.cacheRoot.empty())
    options.cacheRoot = colm::kernelCacheRoot();
  if (options.jobs <= 0)
    options.jobs = CpuInfo::host().threads;

  std::vector<std::string> versionCmd = words;
  versionCmd.push_back("--version");
  COLM_ASSIGN_OR_RETURN(ProcessResult r, runProcess(versionCmd));
  if (!WIFEXITED(r.waitStatus) || WEXITSTATUS(r.waitStatus) != 0)
    return Status::error("'" + words[0] + " --version' failed (" +
                         describeWaitStatus(r.waitStatus) +
                         "): " + firstErrorLines(r.output, "", ""));
  return CpuJit(std::move(options), std::move(words), std::move(r.output));
}

std::string CpuJit::compilerVersionLine() const {
  return version.substr(0, version.find('\n'));
}

CacheKey CpuJit::keyFor(const std::string &source,
                        const std::vector<std::string> &extraFlags) const {
  CacheKey key;
  // Bump the schema when the entry layout or the build recipe changes.
  key.add("schema", "colm-cpu-jit 1");
  key.add("colm", COLM_VERSION);
  std::string cmd;
  for (const std::string &w : command)
    cmd += (cmd.empty() ? "" : " ") + w;
  key.add("compiler", cmd);
  key.add("compiler version", version);
  // One part per flag: unambiguous even for flags with spaces.
  for (const std::string &f : baseFlags())
    key.add("flag", f);
  for (const std::string &f : extraFlags)
    key.add("flag", f);
  key.add("cpu", CpuInfo::host().targetKey());
  key.addHashed("source", source);
  return key;
}

static bool validKernelName(const std::string &name) {
  if (name.empty() || name.size() > 200 || name[0] == '.')
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' &&
        c != '.')
      return false;
  return true;
}

static bool sameFile(const std::string &a, const std::string &b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

namespace {

/// One distinct kernel to compile or load.
struct Job {
  std::string name;
  std::string source;      ///< what is compiled (the override, if any)
  std::string shownSource; ///< a path the user can open, or ""
  CacheKey key;
  std::string entry;
  bool hit = false;
  Status status;
};

} // namespace

Result<std::vector<std::shared_ptr<DynamicLibrary>>>
CpuJit::compile(const std::vector<KernelSource> &kernels,
                const std::vector<std::string> &extraFlags) {
  auto t0 = std::chrono::steady_clock::now();
  jitStats.requested += int64_t(kernels.size());
  std::vector<Job> jobs;
  std::vector<size_t> jobOf(kernels.size());
  std::map<std::string, size_t> jobByKey; // identical sources build once
  std::map<std::string, const std::string *> sourceByName;

  for (size_t i = 0; i < kernels.size(); ++i) {
    const KernelSource &k = kernels[i];
    if (!validKernelName(k.name))
      return Status::error("kernel name '" + k.name +
                           "' is not a valid file name (use letters, digits, "
                           "'_', '-', '.'; not starting with '.')");
    // One name, one file in the dump and override directories.
    auto [named, first] = sourceByName.emplace(k.name, &k.source);
    if (!first && *named->second != k.source)
      return Status::error("kernel name '" + k.name +
                           "' is given twice with different sources");
    Job job;
    job.name = k.name;
    job.source = k.source;
    std::string overridePath;
    if (!opts.overrideDir.empty()) {
      overridePath = opts.overrideDir + "/" + k.name + ".cpp";
      struct stat st;
      if (::stat(overridePath.c_str(), &st) == 0) {
        COLM_ASSIGN_OR_RETURN(job.source, readFile(overridePath, 64 << 20));
        job.shownSource = overridePath;
        ++jitStats.overridden;
        std::fprintf(stderr, "colm: kernel %s: using override %s\n",
                     k.name.c_str(), overridePath.c_str());
      } else {
        overridePath.clear();
      }
    }
    if (!opts.dumpDir.empty()) {
      std::string dumpPath = opts.dumpDir + "/" + k.name + ".cpp";
      // Dumping into the override directory must not overwrite the edit.
      if (overridePath.empty() || !sameFile(dumpPath, overridePath)) {
        COLM_TRY(makeDirectories(opts.dumpDir));
        COLM_TRY(writeFileAtomic(dumpPath, k.source));
        if (overridePath.empty())
          job.shownSource = dumpPath;
      }
    }
    job.key = keyFor(job.source, extraFlags);
    auto [it, fresh] = jobByKey.emplace(job.key.hex(), jobs.size());
    jobOf[i] = it->second;
    if (fresh)
      jobs.push_back(std::move(job));
  }

  // Hits first: they need no compiler.
  std::vector<size_t> misses;
  for (size_t j = 0; j < jobs.size(); ++j) {
    if (std::optional<std::string> entry = kernelCache.lookup(jobs[j].key)) {
      jobs[j].entry = *entry;
      jobs[j].hit = true;
    } else {
      misses.push_back(j);
    }
  }
  double lookupSeconds = secondsSince(t0);

  auto t1 = std::chrono::steady_clock::now();
  std::vector<std::string> flags = baseFlags();
  flags.insert(flags.end(), extraFlags.begin(), extraFlags.end());
  auto buildOne = [&](Job &job) {
    KernelCache::Builder build = [&](const std::string &tmp) -> Status {
      std::string src = tmp + "/kernel.cpp", lib = tmp + "/kernel.so";
      COLM_TRY(writeFileAtomic(src, job.source));
      COLM_TRY(writeFileAtomic(tmp + "/key.txt", job.key.describe()));
      std::vector<std::string> argv = command;
      argv.insert(argv.end(), flags.begin(), flags.end());
      argv.insert(argv.end(), {"-o", lib, src});
      COLM_ASSIGN_OR_RETURN(ProcessResult r, runProcess(argv));
      bool ok = WIFEXITED(r.waitStatus) && WEXITSTATUS(r.waitStatus) == 0;
      if (ok && ::access(lib.c_str(), R_OK) == 0)
        return Status::ok();
      // Keep what failed where the user can read it: the entry's temporary
      // directory is about to go.
      std::string failedDir = kernelCache.directory() + "/failed";
      std::string logPath = failedDir + "/" + job.name + ".log";
      std::string shown = job.shownSource;
      bool kept = makeDirectories(failedDir).isOk();
      if (kept && shown.empty() &&
          writeFileAtomic(failedDir + "/" + job.name + ".cpp", job.source)
              .isOk())
        shown = failedDir + "/" + job.name + ".cpp";
      if (!kept || !writeFileAtomic(logPath, r.output).isOk())
        logPath = "(not kept)";
      std::string what =
          ok ? "produced no library"
             : "failed (" + describeWaitStatus(r.waitStatus) + ")";
      return Status::error(
          "kernel '" + job.name + "': " + command[0] + " " + what + ": " +
          firstErrorLines(r.output, src, shown.empty() ? src : shown) +
          " [source: " + (shown.empty() ? "(not kept)" : shown) +
          ", full log: " + logPath + "]");
    };
    Result<KernelCache::Entry> e = kernelCache.getOrBuild(job.key, build);
    if (!e) {
      job.status = e.status();
      return;
    }
    job.entry = e->path;
    job.hit = e->hit;
  };
  size_t workers =
      std::min<size_t>(size_t(std::max(1, opts.jobs)), misses.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < misses.size();)
      buildOne(jobs[misses[i]]);
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w)
    pool.emplace_back(work);
  if (workers > 0)
    work();
  for (std::thread &t : pool)
    t.join();
  if (!misses.empty())
    jitStats.compileSeconds += secondsSince(t1);

  auto countBuilt = [&] {
    int64_t built = 0;
    for (const Job &job : jobs)
      built += job.status && !job.hit ? 1 : 0;
    return built;
  };
  size_t failed = 0;
  const Status *firstError = nullptr;
  for (const Job &job : jobs)
    if (!job.status) {
      ++failed;
      if (!firstError)
        firstError = &job.status;
    }
  if (firstError) {
    jitStats.compiled += countBuilt();
    if (failed == 1)
      return *firstError;
    return Status::error(firstError->message() + " (and " +
                         std::to_string(failed - 1) + " more kernel" +
                         (failed == 2 ? "" : "s") + " failed)");
  }

  auto t2 = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<DynamicLibrary>> loaded(jobs.size());
  for (Job &job : jobs) {
    Result<DynamicLibrary> lib = DynamicLibrary::open(job.entry + "/kernel.so");
    if (!lib && job.hit) {
      // An entry that checks out but will not load: build it afresh once.
      std::fprintf(stderr,
                   "colm: kernel %s: cached library would not load "
                   "(%s); rebuilding\n",
                   job.name.c_str(), lib.status().message().c_str());
      COLM_TRY(kernelCache.remove(job.key));
      auto tb = std::chrono::steady_clock::now();
      buildOne(job);
      jitStats.compileSeconds += secondsSince(tb);
      COLM_TRY(job.status);
      lib = DynamicLibrary::open(job.entry + "/kernel.so");
    }
    if (!lib)
      return lib.status().withContext("kernel '" + job.name + "'");
    loaded[size_t(&job - jobs.data())] =
        std::make_shared<DynamicLibrary>(lib.take());
  }
  jitStats.loadSeconds += lookupSeconds + secondsSince(t2);

  int64_t built = countBuilt();
  jitStats.compiled += built;
  jitStats.cacheHits += int64_t(kernels.size()) - built;

  std::vector<std::shared_ptr<DynamicLibrary>> out(kernels.size());
  for (size_t i = 0; i < kernels.size(); ++i)
    out[i] = loaded[jobOf[i]];
  return out;
}

} // namespace colm
