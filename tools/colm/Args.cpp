//===- Args.cpp - command-line flags of the colm tools ----------*- C++ -*-===//
#include "tools/colm/Args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace colm::cli {

Args &Args::option(const std::string &name, const std::string &valueName,
                   const std::string &helpText, bool required,
                   const std::string &alias) {
  specs.push_back({name, valueName, helpText, alias, required, false});
  return *this;
}

Args &Args::listOption(const std::string &name, const std::string &valueName,
                       const std::string &helpText, bool required) {
  specs.push_back({name, valueName, helpText, "", required, false, true});
  return *this;
}

Args &Args::flag(const std::string &name, const std::string &helpText) {
  specs.push_back({name, "", helpText, "", false, true});
  return *this;
}

const Args::Spec *Args::find(const std::string &name) const {
  for (const Spec &s : specs)
    if (s.name == name || (!s.alias.empty() && s.alias == name))
      return &s;
  return nullptr;
}

Status Args::parse(const std::vector<std::string> &argv) {
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      return Status::ok();
    }
    std::string name = arg, value;
    bool hasValue = false;
    if (arg.rfind("--", 0) == 0) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        hasValue = true;
      }
    } else if (arg.rfind("-", 0) != 0 || arg.size() == 1) {
      return Status::error("unexpected argument '" + arg + "' (see colm " +
                           command + " --help)");
    }
    const Spec *spec = find(name);
    if (!spec)
      return Status::error("unknown flag '" + name + "' for colm " + command +
                           " (see colm " + command + " --help)");
    if (spec->isFlag) {
      if (hasValue)
        return Status::error("flag " + spec->name + " takes no value");
      flags[spec->name] = true;
      continue;
    }
    if (!hasValue) {
      if (i + 1 >= argv.size())
        return Status::error("flag " + spec->name + " needs a value (" +
                             spec->valueName + ")");
      value = argv[++i];
      // A list takes every following word that is not a flag.
      while (spec->isList && i + 1 < argv.size() &&
             argv[i + 1].rfind("--", 0) != 0)
        value += "," + argv[++i];
    }
    if (values.count(spec->name))
      return Status::error("flag " + spec->name + " is given twice");
    values[spec->name] = value;
  }
  for (const Spec &s : specs)
    if (s.required && !values.count(s.name))
      return Status::error("missing required flag " + s.name + " " +
                           s.valueName + " (see colm " + command + " --help)");
  return Status::ok();
}

Result<bool> Args::parseOrPrintHelp(const std::vector<std::string> &argv) {
  COLM_TRY(parse(argv));
  if (help)
    std::fputs(helpText().c_str(), stdout);
  return help;
}

std::string Args::helpText() const {
  std::string text = "usage: colm " + command + " " + usage + "\n\n" + summary +
                     "\n\nflags:\n";
  for (const Spec &s : specs) {
    std::string left = "  " + s.name;
    if (!s.alias.empty())
      left += ", " + s.alias;
    if (!s.isFlag)
      left += " " + s.valueName;
    if (left.size() < 30)
      left.resize(30, ' ');
    else
      left += "\n" + std::string(30, ' ');
    text += left + s.help + (s.required ? " (required)" : "") + "\n";
  }
  text += "  --help                      show this help\n";
  return text;
}

std::string Args::get(const std::string &name,
                      const std::string &fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

Result<int64_t> Args::getInt(const std::string &name, int64_t fallback,
                             int64_t min, int64_t max) const {
  auto it = values.find(name);
  if (it == values.end())
    return fallback;
  const std::string &text = it->second;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    return Status::error(name + " expects an integer, got '" + text + "'");
  if (v < min || v > max)
    return Status::error(name + " " + text + " is outside " +
                         std::to_string(min) + ".." + std::to_string(max));
  return static_cast<int64_t>(v);
}

Result<double> Args::getDouble(const std::string &name, double fallback) const {
  auto it = values.find(name);
  if (it == values.end())
    return fallback;
  const std::string &text = it->second;
  char *end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v))
    return Status::error(name + " expects a number, got '" + text + "'");
  return v;
}

Result<std::vector<int64_t>> parseIntList(const std::string &text,
                                          const std::string &what) {
  std::vector<int64_t> out;
  size_t pos = 0;
  if (text.empty())
    return Status::error(what + " is empty");
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(
        pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno == ERANGE)
      return Status::error(what + ": '" + item + "' at position " +
                           std::to_string(out.size()) +
                           " is not an integer (positions count from 0)");
    out.push_back(v);
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return out;
}

} // namespace colm::cli
