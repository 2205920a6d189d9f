//===- Executor.cpp - What runs a compiled program ------------------------===//
#include "runtime/Executor.h"

namespace colm {

Executor::Executor(Program program)
    : prog(std::move(program)), sizes(prog.maxSizes) {
  resetProfile();
}

Status Executor::setSizes(const std::map<std::string, int64_t> &given) {
  std::vector<int64_t> next = prog.maxSizes;
  for (const auto &[name, value] : given) {
    int v = prog.findVariable(name);
    if (v < 0)
      return Status::error("the program has no size '" + name + "'");
    if (value < 0 || value > prog.maxSizes[v])
      return Status::error("size '" + name + "' = " + std::to_string(value) +
                           " is outside 0.." +
                           std::to_string(prog.maxSizes[v]) +
                           ", what the program was planned for");
    next[v] = value;
  }
  if (given.size() != prog.variables.size())
    return Status::error("the program needs " +
                         std::to_string(prog.variables.size()) +
                         " sizes, got " + std::to_string(given.size()));
  sizes = next;
  // An input bound for other sizes must be bound again.
  for (size_t i = 0; i < prog.buffers.size(); ++i)
    if (!prog.buffers[i].produced())
      for (const SizeExpr &d : prog.buffers[i].shape)
        if (!d.isConstant())
          unbind(i);
  return Status::ok();
}

Result<std::vector<int64_t>> Executor::shapeOf(const std::string &name) const {
  int i = prog.findBuffer(name);
  if (i < 0)
    return Status::error("the program has no buffer '" + name + "'");
  return prog.buffers[i].shapeAt(sizes);
}

bool Executor::has(const std::string &name, BufferRole role) const {
  int i = prog.findBuffer(name);
  return i >= 0 && prog.buffers[i].role == role;
}

Result<size_t> Executor::bindable(const std::string &name,
                                  int64_t bytes) const {
  int i = prog.findBuffer(name);
  if (i < 0)
    return Status::error("the program has no buffer '" + name + "'");
  const ProgramBuffer &b = prog.buffers[i];
  if (b.produced())
    return Status::error("buffer '" + name + "' is " + bufferRoleName(b.role) +
                         ", not bound by the caller");
  if (bytes != b.bytes(sizes))
    return Status::error("buffer '" + name + "' needs " +
                         std::to_string(b.bytes(sizes)) + " bytes, got " +
                         std::to_string(bytes));
  return size_t(i);
}

void Executor::resetProfile() {
  launchProfile.clear();
  for (const ProgramLaunch &l : prog.launches)
    launchProfile.push_back(
        {l.label, l.kernel >= 0 ? prog.kernels[l.kernel].name : "zero", 0, 0,
         0});
}

} // namespace colm
