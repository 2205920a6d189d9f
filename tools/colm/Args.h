//===- Args.h - command-line flags of the colm tools ------------*- C++ -*-===//
//
// A small flag parser: every flag is declared with its help text, so --help
// lists all of them, and an unknown flag or a missing value is an error that
// names the flag.
//
//===----------------------------------------------------------------------===//
#ifndef COLM_TOOLS_ARGS_H
#define COLM_TOOLS_ARGS_H

#include "runtime/Status.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace colm::cli {

class Args {
public:
  Args(std::string command, std::string usage, std::string summary)
      : command(std::move(command)), usage(std::move(usage)),
        summary(std::move(summary)) {}

  /// Declares a flag that takes a value (`--name VALUE` or `--name=VALUE`).
  Args &option(const std::string &name, const std::string &valueName,
               const std::string &help, bool required = false,
               const std::string &alias = "");
  /// Declares a flag that takes one or more values (`--name 2 2` or
  /// `--name 2,2`); get() returns them joined by commas.
  Args &listOption(const std::string &name, const std::string &valueName,
                   const std::string &help, bool required = false);
  /// Declares a boolean flag.
  Args &flag(const std::string &name, const std::string &help);

  /// Parses argv; `--help` sets helpRequested() and skips required checks.
  Status parse(const std::vector<std::string> &argv);
  bool helpRequested() const { return help; }
  /// parse(), and on --help print the help to stdout; true when it did (the
  /// command then has nothing more to do).
  Result<bool> parseOrPrintHelp(const std::vector<std::string> &argv);
  std::string helpText() const;

  bool has(const std::string &name) const { return values.count(name) > 0; }
  std::string get(const std::string &name,
                  const std::string &fallback = "") const;
  Result<int64_t> getInt(const std::string &name, int64_t fallback, int64_t min,
                         int64_t max) const;
  /// A finite number; errors name the flag.
  Result<double> getDouble(const std::string &name, double fallback) const;
  bool isSet(const std::string &flagName) const {
    return flags.count(flagName) > 0;
  }

private:
  struct Spec {
    std::string name, valueName, help, alias;
    bool required = false, isFlag = false, isList = false;
  };
  std::string command, usage, summary;
  std::vector<Spec> specs;
  std::map<std::string, std::string> values;
  std::map<std::string, bool> flags;
  bool help = false;
  const Spec *find(const std::string &name) const;
};

/// Parses "3,1,4,1" into integers; names `what` in errors.
Result<std::vector<int64_t>> parseIntList(const std::string &text,
                                          const std::string &what);

} // namespace colm::cli

#endif // COLM_TOOLS_ARGS_H
