//===- Program.cpp - A compiled program: kernels, buffers, launches -------===//
#include "runtime/Program.h"

#include "runtime/File.h"

#include <algorithm>
#include <limits>
#include <map>

namespace colm {

namespace {

constexpr int kFormatVersion = 1;

const char *argKindName(ProgramArg::Kind kind) {
  switch (kind) {
  case ProgramArg::Kind::Pointer:
    return "pointer";
  case ProgramArg::Kind::Int:
    return "int";
  case ProgramArg::Kind::Float:
    return "float";
  }
  return "?";
}

/// Reads the fields of one JSON object with errors that say where.
class Reader {
public:
  Reader(const JsonValue &object, std::string where)
      : object(object), where(std::move(where)) {}

  Status error(const std::string &what) const {
    return Status::error(where + ": " + what);
  }
  const JsonValue *field(const char *key, JsonValue::Kind kind) {
    const JsonValue *v = object.find(key);
    if (!v) {
      if (status.isOk())
        status = error(std::string("missing \"") + key + "\"");
      return nullptr;
    }
    if (v->kind() != kind && status.isOk())
      status = error(std::string("\"") + key + "\" must be " +
                     JsonValue::kindWithArticle(kind) + ", not " +
                     JsonValue::kindWithArticle(v->kind()));
    return v->kind() == kind ? v : nullptr;
  }
  int64_t integer(const char *key) {
    const JsonValue *v = field(key, JsonValue::Kind::Number);
    if (v && !v->isInteger() && status.isOk())
      status = error(std::string("\"") + key + "\" must be an integer");
    return v && v->isInteger() ? v->asInt() : 0;
  }
  int64_t integer(const char *key, int64_t fallback) {
    return object.find(key) ? integer(key) : fallback;
  }
  double number(const char *key) {
    const JsonValue *v = field(key, JsonValue::Kind::Number);
    return v ? v->asDouble() : 0;
  }
  std::string string(const char *key) {
    const JsonValue *v = field(key, JsonValue::Kind::String);
    return v ? v->asString() : "";
  }
  const JsonValue *array(const char *key) {
    return field(key, JsonValue::Kind::Array);
  }

  const JsonValue &object;
  std::string where;
  Status status;
};

template <class Enum, size_t N>
bool parseName(const std::string &name, const Enum (&values)[N],
               const char *(*nameOf)(Enum), Enum &out) {
  for (Enum v : values)
    if (name == nameOf(v)) {
      out = v;
      return true;
    }
  return false;
}

JsonValue sizeJson(const SizeExpr &e, const std::vector<std::string> &vars) {
  if (e.isConstant())
    return JsonValue::integer(e.constant);
  JsonValue o = JsonValue::object();
  if (e.constant)
    o.set("constant", JsonValue::integer(e.constant));
  for (auto [v, k] : e.terms)
    o.set(v >= 0 && v < static_cast<int>(vars.size()) ? vars[v] : "?",
          JsonValue::integer(k));
  return o;
}

/// An integer, or {"constant": c, "VARIABLE": coefficient, ...}.
Result<SizeExpr> sizeFromJson(const JsonValue &v,
                              const std::vector<std::string> &vars,
                              const std::string &where) {
  if (v.isInteger())
    return SizeExpr(v.asInt());
  if (!v.isObject())
    return Status::error(where + " must be an integer or an object of "
                                 "coefficients");
  SizeExpr e;
  for (size_t i = 0; i < v.keys().size(); ++i) {
    const JsonValue &k = v.elements()[i];
    if (!k.isInteger())
      return Status::error(where + ": \"" + v.keys()[i] +
                           "\" must be an integer");
    if (v.keys()[i] == "constant") {
      e.constant = k.asInt();
      continue;
    }
    auto it = std::find(vars.begin(), vars.end(), v.keys()[i]);
    if (it == vars.end())
      return Status::error(where + ": unknown size \"" + v.keys()[i] + "\"");
    if (k.asInt() <= 0)
      return Status::error(where + ": the coefficient of \"" + v.keys()[i] +
                           "\" must be positive");
    e.terms.push_back({static_cast<int>(it - vars.begin()), k.asInt()});
  }
  std::sort(e.terms.begin(), e.terms.end());
  return e;
}

} // namespace

int64_t SizeExpr::eval(const std::vector<int64_t> &sizes) const {
  int64_t v = constant;
  for (auto [i, k] : terms)
    v += k * (i >= 0 && i < static_cast<int>(sizes.size()) ? sizes[i] : 0);
  return v;
}

SizeExpr SizeExpr::operator+(const SizeExpr &other) const {
  SizeExpr r;
  r.constant = constant + other.constant;
  std::map<int, int64_t> sum;
  for (auto [i, k] : terms)
    sum[i] += k;
  for (auto [i, k] : other.terms)
    sum[i] += k;
  for (auto [i, k] : sum)
    r.terms.push_back({i, k});
  return r;
}

SizeExpr SizeExpr::operator*(int64_t factor) const {
  SizeExpr r;
  r.constant = constant * factor;
  if (factor != 0)
    for (auto [i, k] : terms)
      r.terms.push_back({i, k * factor});
  return r;
}

const char *elementTypeName(ElementType type) {
  switch (type) {
  case ElementType::F32:
    return "f32";
  case ElementType::I32:
    return "i32";
  case ElementType::F64:
    return "f64";
  case ElementType::BF16:
    return "bf16";
  }
  return "?";
}

int64_t elementBytes(ElementType type) {
  return type == ElementType::F64 ? 8 : type == ElementType::BF16 ? 2 : 4;
}

const char *bufferRoleName(BufferRole role) {
  switch (role) {
  case BufferRole::Temporary:
    return "temporary";
  case BufferRole::Output:
    return "output";
  case BufferRole::Input:
    return "input";
  case BufferRole::Param:
    return "param";
  }
  return "?";
}

std::vector<int64_t>
ProgramBuffer::shapeAt(const std::vector<int64_t> &sizes) const {
  std::vector<int64_t> s;
  for (const SizeExpr &d : shape)
    s.push_back(d.eval(sizes));
  return s;
}

int64_t ProgramBuffer::elements(const std::vector<int64_t> &sizes) const {
  int64_t n = 1;
  for (const SizeExpr &d : shape)
    n *= d.eval(sizes);
  return n;
}

int Program::findVariable(const std::string &name) const {
  for (size_t i = 0; i < variables.size(); ++i)
    if (variables[i] == name)
      return static_cast<int>(i);
  return -1;
}

int Program::findBuffer(const std::string &name) const {
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].name == name)
      return static_cast<int>(i);
  return -1;
}

int64_t Program::unplannedBytes() const {
  int64_t total = 0;
  for (const ProgramBuffer &b : buffers)
    if (b.inArena())
      total += b.bytes(maxSizes);
  return total;
}

Status Program::validate() const {
  if (arenaBytes < 0)
    return Status::error("the arena size is negative");
  if (variables.size() != maxSizes.size())
    return Status::error("every size needs a maximum");
  for (size_t i = 0; i < maxSizes.size(); ++i)
    if (maxSizes[i] < 1 || maxSizes[i] > (int64_t(1) << 32))
      return Status::error("size '" + variables[i] + "' has maximum " +
                           std::to_string(maxSizes[i]));
  if (variables.size() > 64)
    return Status::error("a program has at most 64 sizes");
  // Terms by distinct, increasing variable, each at most 2^40 at the
  // maxima: no expression overflows at sizes within the maxima.
  auto exprOk = [&](const SizeExpr &e) {
    int previous = -1;
    for (auto [v, k] : e.terms) {
      if (v <= previous || v >= static_cast<int>(variables.size()) || k <= 0 ||
          k > (int64_t(1) << 40) / maxSizes[v])
        return false;
      previous = v;
    }
    return e.constant >= -(int64_t(1) << 40) &&
           e.constant <= (int64_t(1) << 40);
  };
  for (size_t i = 0; i < kernels.size(); ++i)
    if (kernels[i].name.empty() || kernels[i].symbol.empty() ||
        kernels[i].name.find_first_of("/\\") != std::string::npos ||
        kernels[i].name[0] == '.')
      return Status::error("kernel " + std::to_string(i) +
                           " needs a plain file name and a symbol");
  for (size_t i = 0; i < buffers.size(); ++i) {
    const ProgramBuffer &b = buffers[i];
    std::string what = "buffer " + std::to_string(i) + " '" + b.name + "'";
    int64_t elements = 1;
    for (const SizeExpr &d : b.shape) {
      if (!exprOk(d) || d.constant < 0 || d.eval(maxSizes) > (int64_t(1) << 40))
        return Status::error(what + " has a dimension out of range");
      int64_t v = d.eval(maxSizes);
      if (v > 0 && elements > (int64_t(1) << 40) / v)
        return Status::error(what + " is too large");
      elements *= v;
    }
    if (b.isView()) {
      if (!b.produced() || b.viewOf >= static_cast<int>(buffers.size()) ||
          buffers[b.viewOf].isView() || !buffers[b.viewOf].produced() ||
          buffers[b.viewOf].type != b.type || b.viewElement < 0 ||
          b.viewElement >
              buffers[b.viewOf].elements(maxSizes) - b.elements(maxSizes))
        return Status::error(what + " is not a view inside another buffer");
      continue;
    }
    if (b.inArena() && (b.offset < 0 || b.offset % 64 != 0 ||
                        b.offset > arenaBytes - b.bytes(maxSizes)))
      return Status::error(what + " does not lie in the arena (offset " +
                           std::to_string(b.offset) + ", " +
                           std::to_string(b.bytes(maxSizes)) +
                           " bytes, arena " + std::to_string(arenaBytes) + ")");
  }
  for (size_t i = 0; i < launches.size(); ++i) {
    const ProgramLaunch &l = launches[i];
    std::string what = "launch " + std::to_string(i) + " (" + l.label + ")";
    if (l.kernel < -1 || l.kernel >= static_cast<int>(kernels.size()))
      return Status::error(what + " names kernel " + std::to_string(l.kernel) +
                           " of " + std::to_string(kernels.size()));
    if (l.argBytes < 0 || l.argBytes > 4096)
      return Status::error(what + " has an argument struct of " +
                           std::to_string(l.argBytes) + " bytes");
    for (int z : l.zero)
      if (z < 0 || z >= static_cast<int>(buffers.size()))
        return Status::error(what + " zero-fills a buffer out of range");
    for (const ProgramArg &a : l.args) {
      int64_t size = a.kind == ProgramArg::Kind::Pointer ? sizeof(void *) : 8;
      if (a.offset < 0 || a.offset % 8 != 0 || a.offset > l.argBytes - size)
        return Status::error(what + " has an argument field at offset " +
                             std::to_string(a.offset) + " outside its " +
                             std::to_string(l.argBytes) + "-byte struct");
      if (!exprOk(a.element) || !exprOk(a.intValue))
        return Status::error(what + " has a size expression out of range");
      if (a.kind != ProgramArg::Kind::Pointer)
        continue;
      if (a.buffer < -1 || a.buffer >= static_cast<int>(buffers.size()))
        return Status::error(what + " points at a buffer out of range");
      if (a.buffer >= 0 &&
          (a.element.constant < 0 ||
           a.element.eval(maxSizes) > buffers[a.buffer].elements(maxSizes)))
        return Status::error(what + " points past the end of buffer '" +
                             buffers[a.buffer].name + "'");
    }
  }
  return Status::ok();
}

JsonValue Program::toJson() const {
  JsonValue root = JsonValue::object();
  root.set("format", JsonValue::string("colm-program"));
  root.set("version", JsonValue::integer(kFormatVersion));
  root.set("target", JsonValue::string(target));
  root.set("function", JsonValue::string(function));
  JsonValue sizeObject = JsonValue::object();
  for (const auto &[k, v] : sizes)
    sizeObject.set(k, JsonValue::integer(v));
  root.set("sizes", std::move(sizeObject));
  JsonValue vars = JsonValue::object();
  for (size_t i = 0; i < variables.size(); ++i)
    vars.set(variables[i], JsonValue::integer(maxSizes[i]));
  root.set("dynamic_sizes", std::move(vars));
  root.set("arena_bytes", JsonValue::integer(arenaBytes));
  JsonValue ks = JsonValue::array();
  for (const ProgramKernel &k : kernels) {
    JsonValue o = JsonValue::object();
    o.set("name", JsonValue::string(k.name));
    o.set("symbol", JsonValue::string(k.symbol));
    ks.push(std::move(o));
  }
  root.set("kernels", std::move(ks));
  JsonValue bs = JsonValue::array();
  for (const ProgramBuffer &b : buffers) {
    JsonValue o = JsonValue::object();
    o.set("name", JsonValue::string(b.name));
    o.set("role", JsonValue::string(bufferRoleName(b.role)));
    o.set("type", JsonValue::string(elementTypeName(b.type)));
    JsonValue shape = JsonValue::array();
    for (const SizeExpr &d : b.shape)
      shape.push(sizeJson(d, variables));
    o.set("shape", std::move(shape));
    if (b.inArena())
      o.set("offset", JsonValue::integer(b.offset));
    if (b.isView()) {
      o.set("view_of", JsonValue::integer(b.viewOf));
      o.set("view_element", JsonValue::integer(b.viewElement));
    }
    bs.push(std::move(o));
  }
  root.set("buffers", std::move(bs));
  JsonValue ls = JsonValue::array();
  for (const ProgramLaunch &l : launches) {
    JsonValue o = JsonValue::object();
    o.set("label", JsonValue::string(l.label));
    o.set("kernel", JsonValue::integer(l.kernel));
    o.set("arg_bytes", JsonValue::integer(l.argBytes));
    o.set("flops", JsonValue::number(l.flops));
    JsonValue zero = JsonValue::array();
    for (int z : l.zero)
      zero.push(JsonValue::integer(z));
    o.set("zero", std::move(zero));
    JsonValue args = JsonValue::array();
    for (const ProgramArg &a : l.args) {
      JsonValue f = JsonValue::object();
      f.set("kind", JsonValue::string(argKindName(a.kind)));
      f.set("offset", JsonValue::integer(a.offset));
      switch (a.kind) {
      case ProgramArg::Kind::Pointer:
        f.set("buffer", JsonValue::integer(a.buffer));
        f.set("element", sizeJson(a.element, variables));
        break;
      case ProgramArg::Kind::Int:
        f.set("value", sizeJson(a.intValue, variables));
        break;
      case ProgramArg::Kind::Float:
        f.set("value", JsonValue::number(a.floatValue));
        break;
      }
      args.push(std::move(f));
    }
    o.set("args", std::move(args));
    ls.push(std::move(o));
  }
  root.set("launches", std::move(ls));
  return root;
}

Result<Program> Program::fromJson(const JsonValue &json,
                                  const std::string &source) {
  if (!json.isObject())
    return Status::error(source + ": a program must be a JSON object");
  Reader top(json, source);
  if (top.string("format") != "colm-program" && top.status.isOk())
    return top.error("not a colm program (\"format\" is not "
                     "\"colm-program\")");
  int64_t version = top.integer("version");
  if (top.status.isOk() && version != kFormatVersion)
    return top.error("program format version " + std::to_string(version) +
                     " is not supported (this colm reads version " +
                     std::to_string(kFormatVersion) +
                     "); compile it again with this colm");
  Program p;
  p.target = top.string("target");
  p.function = top.string("function");
  p.arenaBytes = top.integer("arena_bytes");
  if (const JsonValue *sizes = top.field("sizes", JsonValue::Kind::Object))
    for (size_t i = 0; i < sizes->keys().size(); ++i) {
      const JsonValue &v = sizes->elements()[i];
      if (!v.isInteger())
        return top.error("size \"" + sizes->keys()[i] +
                         "\" must be an integer");
      p.sizes[sizes->keys()[i]] = v.asInt();
    }
  const JsonValue *vars = json.find("dynamic_sizes");
  if (vars && !vars->isObject())
    return top.error("\"dynamic_sizes\" must be an object");
  if (vars)
    for (size_t i = 0; i < vars->keys().size(); ++i) {
      const JsonValue &v = vars->elements()[i];
      if (!v.isInteger())
        return top.error("the maximum of size \"" + vars->keys()[i] +
                         "\" must be an integer");
      p.variables.push_back(vars->keys()[i]);
      p.maxSizes.push_back(v.asInt());
    }
  const JsonValue *ks = top.array("kernels");
  const JsonValue *bs = top.array("buffers");
  const JsonValue *ls = top.array("launches");
  if (!top.status.isOk())
    return top.status;
  for (size_t i = 0; i < ks->size(); ++i) {
    Reader r((*ks)[i], source + ": kernels[" + std::to_string(i) + "]");
    if (!(*ks)[i].isObject())
      return r.error("must be an object");
    p.kernels.push_back({r.string("name"), r.string("symbol")});
    if (!r.status.isOk())
      return r.status;
  }
  for (size_t i = 0; i < bs->size(); ++i) {
    Reader r((*bs)[i], source + ": buffers[" + std::to_string(i) + "]");
    if (!(*bs)[i].isObject())
      return r.error("must be an object");
    ProgramBuffer b;
    b.name = r.string("name");
    std::string role = r.string("role"), type = r.string("type");
    const JsonValue *shape = r.array("shape");
    if (!r.status.isOk())
      return r.status;
    const BufferRole roles[] = {BufferRole::Temporary, BufferRole::Output,
                                BufferRole::Input, BufferRole::Param};
    const ElementType types[] = {ElementType::F32, ElementType::I32,
                                 ElementType::F64, ElementType::BF16};
    if (!parseName(role, roles, bufferRoleName, b.role))
      return r.error("unknown role \"" + role + "\"");
    if (!parseName(type, types, elementTypeName, b.type))
      return r.error("unknown element type \"" + type + "\"");
    for (const JsonValue &d : shape->elements()) {
      COLM_ASSIGN_OR_RETURN(SizeExpr e,
                            sizeFromJson(d, p.variables, r.where + ".shape"));
      b.shape.push_back(e);
    }
    if (b.produced() && bs->elements()[i].find("view_of")) {
      int64_t base = r.integer("view_of");
      if (base < 0 || base > std::numeric_limits<int>::max())
        return r.error("\"view_of\" must be a buffer index");
      b.viewOf = static_cast<int>(base);
      b.viewElement = r.integer("view_element");
    } else if (b.inArena()) {
      b.offset = r.integer("offset");
    }
    if (!r.status.isOk())
      return r.status;
    p.buffers.push_back(std::move(b));
  }
  for (size_t i = 0; i < ls->size(); ++i) {
    Reader r((*ls)[i], source + ": launches[" + std::to_string(i) + "]");
    if (!(*ls)[i].isObject())
      return r.error("must be an object");
    ProgramLaunch l;
    l.label = r.string("label");
    l.kernel = static_cast<int>(r.integer("kernel"));
    l.argBytes = r.integer("arg_bytes");
    l.flops = r.number("flops");
    const JsonValue *zero = r.array("zero");
    const JsonValue *args = r.array("args");
    if (!r.status.isOk())
      return r.status;
    for (const JsonValue &z : zero->elements()) {
      if (!z.isInteger() || z.asInt() < 0 ||
          z.asInt() > std::numeric_limits<int>::max())
        return r.error("\"zero\" must hold buffer indices");
      l.zero.push_back(static_cast<int>(z.asInt()));
    }
    for (size_t j = 0; j < args->size(); ++j) {
      Reader f((*args)[j], r.where + ".args[" + std::to_string(j) + "]");
      if (!(*args)[j].isObject())
        return f.error("must be an object");
      ProgramArg a;
      std::string kind = f.string("kind");
      a.offset = f.integer("offset");
      if (kind == "pointer") {
        a.kind = ProgramArg::Kind::Pointer;
        int64_t buffer = f.integer("buffer");
        if (buffer < -1 || buffer > std::numeric_limits<int>::max())
          return f.error("buffer index out of range");
        a.buffer = static_cast<int>(buffer);
        if (const JsonValue *e = (*args)[j].find("element")) {
          COLM_ASSIGN_OR_RETURN(
              a.element, sizeFromJson(*e, p.variables, f.where + ".element"));
        } else {
          return f.error("missing \"element\"");
        }
      } else if (kind == "int") {
        a.kind = ProgramArg::Kind::Int;
        if (const JsonValue *e = (*args)[j].find("value")) {
          COLM_ASSIGN_OR_RETURN(
              a.intValue, sizeFromJson(*e, p.variables, f.where + ".value"));
        } else {
          return f.error("missing \"value\"");
        }
      } else if (kind == "float") {
        a.kind = ProgramArg::Kind::Float;
        a.floatValue = f.number("value");
      } else if (f.status.isOk()) {
        return f.error("unknown argument kind \"" + kind + "\"");
      }
      if (!f.status.isOk())
        return f.status;
      l.args.push_back(a);
    }
    p.launches.push_back(std::move(l));
  }
  if (Status s = p.validate(); !s)
    return s.withContext(source);
  return p;
}

Status saveProgram(const Program &program, const std::string &dir) {
  if (Status s = makeDirectories(dir); !s)
    return s;
  return writeFileAtomic(dir + "/program.json",
                         writeJson(program.toJson()) + "\n");
}

Result<Program> loadProgram(const std::string &dir) {
  std::string path = dir + "/program.json";
  COLM_ASSIGN_OR_RETURN(std::string text, readFile(path, int64_t(1) << 28));
  COLM_ASSIGN_OR_RETURN(JsonValue json, parseJson(text, path));
  return Program::fromJson(json, path);
}

} // namespace colm
