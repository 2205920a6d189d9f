//===- CudaOptimizer.cpp - AdamW with its state on the GPU ----------------===//
#include "compiler/CudaOptimizer.h"

#include "compiler/codegen/cpu/CpuJit.h"
#include "compiler/codegen/cpu/RenderAdamW.h"
#include "compiler/codegen/cuda/CompileProgram.h"
#include "compiler/codegen/cuda/RenderAdamW.h"

#include <cmath>

namespace colm {

namespace {
/// Entries per SumSquares partial: the host optimizer's chunk.
constexpr int64_t kNormBlock = int64_t(1) << 16;
} // namespace

Result<std::unique_ptr<CudaOptimizer>>
CudaOptimizer::create(const Optimizer &host, const TensorMap &params,
                      int ordinal, const Sharding *sharding) {
  if (host.config().kind != OptimizerConfig::AdamW)
    return Status::error("the GPU optimizer runs AdamW only");
  std::unique_ptr<CudaOptimizer> o(new CudaOptimizer());
  o->cfg = host.config();
  o->steps = host.stepCount();
  TensorMap state = host.stateTensors();

  // The layout, and the kernels' segments.
  for (const auto &[name, t] : params) {
    const std::vector<uint8_t> &mask = host.mask(name);
    if (mask.size() != t.data.size())
      return Status::error("the GPU optimizer: parameter '" + name +
                           "' does not match the optimizer's");
    Param p{name, t.shape, o->entries, int64_t(t.data.size())};
    bool masked = false;
    for (uint8_t m : mask)
      masked |= m == 0;
    o->update.segments.push_back(
        {p.offset, p.size, t.shape.size() == 2, masked});
    o->entries += p.size;
    o->params.push_back(std::move(p));
  }
  if (o->params.empty())
    return Status::error("the GPU optimizer: no parameters");
  o->sumsq = o->update;
  o->update.mode = codegen::AdamWMode::Update;
  o->sumsq.mode = codegen::AdamWMode::SumSquares;
  o->sumsq.blockSize = kNormBlock;
  COLM_ASSIGN_OR_RETURN(o->driver, cuda::Driver::get());
  COLM_ASSIGN_OR_RETURN(cuda::DeviceInfo info, o->driver->device(ordinal));
  const cuda::DriverApi &f = o->driver->api();
  auto check = [&](cuda::CUresult rc, const std::string &what) {
    return o->driver->check(rc, what.c_str());
  };
  COLM_TRY(check(f.cuDeviceGet(&o->dev, ordinal), "cuDeviceGet"));
  cuda::CUcontext context = nullptr;
  COLM_TRY(check(f.cuDevicePrimaryCtxRetain(&context, o->dev),
                 "cuDevicePrimaryCtxRetain"));
  o->context = context;
  COLM_TRY(check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  if (sharding)
    COLM_TRY(o->shard(*sharding, host));
  COLM_TRY(codegen::validateAdamW(o->update));
  o->blocks = o->sumsq.numBlocks();

  // Kernels and their launch geometry.
  namespace cg = codegen::cuda;
  COLM_ASSIGN_OR_RETURN(CpuJit jit, CpuJit::create());
  const codegen::AdamWSpec *specs[2] = {&o->update, &o->sumsq};
  std::vector<cg::DeviceKernel> kernels;
  for (const codegen::AdamWSpec *s : specs)
    kernels.push_back({s->name(),
                       [s](cg::CudaBuild b) { return cg::renderAdamW(*s, b); },
                       ""});
  COLM_ASSIGN_OR_RETURN(cg::DeviceModules built,
                        cg::buildModules(kernels, jit, info, "AdamW"));
  std::vector<std::string> &images = built.images;
  o->geometryLibrary = std::move(built.geometry);

  for (int k = 0; k < 2; ++k) {
    cuda::CUmodule m = nullptr;
    COLM_TRY(check(f.cuModuleLoadData(&m, images[size_t(k)].data()),
                   "loading " + specs[k]->name()));
    o->modules.push_back(m);
    std::string symbol = codegen::cpu::adamWSymbol(*specs[k]);
    COLM_TRY(check(f.cuModuleGetFunction(&o->functions[k], m,
                                         (symbol + "_kernel").c_str()),
                   "cuModuleGetFunction " + symbol + "_kernel"));
    COLM_ASSIGN_OR_RETURN(
        o->geometry[k],
        o->geometryLibrary
            ->function<void(const void *, unsigned *, unsigned *)>(
                symbol + "_geometry"));
  }

  // The flat arrays: weights and moments from the host, gradients zero
  // (a parameter that never gets one never trains either).
  size_t bytes = size_t(o->entries) * sizeof(float);
  auto alloc = [&](cuda::CUdeviceptr &p, size_t n, const char *what) -> Status {
    COLM_TRY(check(f.cuMemAlloc(&p, std::max<size_t>(n, 1)),
                   std::string("cuMemAlloc for the GPU optimizer's ") + what));
    return check(f.cuMemsetD8(p, 0, n), "cuMemsetD8");
  };
  COLM_TRY(alloc(o->weights, bytes, "weights"));
  COLM_TRY(alloc(o->grads, bytes, "gradients"));
  COLM_TRY(alloc(o->partials, size_t(o->blocks) * sizeof(double), "norm"));
  for (const Param &p : o->params) {
    size_t at = size_t(p.offset) * sizeof(float), n = size_t(p.size) * 4;
    COLM_TRY(
        check(f.cuMemcpyHtoD(o->weights + at, params.at(p.name).data.data(), n),
              "copying '" + p.name + "' to the GPU"));
  }
  if (o->shards) {
    // This rank's slice: master weights packed from the flat ones, the
    // moments packed from the host's tensors.
    size_t slice = size_t(o->shards->sliceEntries()) * sizeof(float);
    COLM_TRY(alloc(o->sliceWeights, slice, "weights"));
    COLM_TRY(alloc(o->sliceGrads, slice, "gradients"));
    COLM_TRY(alloc(o->expAvg, slice, "first moments"));
    COLM_TRY(alloc(o->expAvgSq, slice, "second moments"));
    COLM_TRY(o->shards->sliceOf(o->weights, o->sliceWeights));
    int64_t lo = o->shards->sliceBegin(), hi = lo + o->shards->sliceEntries();
    for (auto [prefix, to] : {std::pair{"exp_avg.", o->expAvg},
                              std::pair{"exp_avg_sq.", o->expAvgSq}}) {
      std::vector<float> mine(size_t(hi - lo), 0.0f);
      for (const dist::GpuExchange::Block &b : o->shards->trainableBlocks()) {
        auto it = state.find(prefix + o->params[b.param].name);
        if (it == state.end())
          return Status::error("the GPU optimizer: no moments for '" +
                               o->params[b.param].name + "'");
        for (int64_t r = 0; r < b.rows; ++r)
          for (int64_t c = 0; c < b.width; ++c) {
            int64_t at = b.packed + r * b.width + c;
            if (at >= lo && at < hi)
              mine[size_t(at - lo)] =
                  it->second
                      .data[size_t((b.row + r) * b.columns + b.column + c)];
          }
      }
      COLM_TRY(check(f.cuMemcpyHtoD(to, mine.data(), slice),
                     "copying moments to the GPU"));
    }
    return o;
  }
  COLM_TRY(alloc(o->expAvg, bytes, "first moments"));
  COLM_TRY(alloc(o->expAvgSq, bytes, "second moments"));
  for (const Param &p : o->params) {
    size_t at = size_t(p.offset) * sizeof(float), n = size_t(p.size) * 4;
    auto m = state.find("exp_avg." + p.name),
         v = state.find("exp_avg_sq." + p.name);
    if (m == state.end() || v == state.end())
      return Status::error("the GPU optimizer: no moments for '" + p.name +
                           "'");
    COLM_TRY(check(f.cuMemcpyHtoD(o->expAvg + at, m->second.data.data(), n),
                   "copying moments to the GPU"));
    COLM_TRY(check(f.cuMemcpyHtoD(o->expAvgSq + at, v->second.data.data(), n),
                   "copying moments to the GPU"));
  }
  // Masks of the masked segments, and the table of their addresses.
  std::vector<cuda::CUdeviceptr> table(o->params.size(), 0);
  for (size_t i = 0; i < o->params.size(); ++i) {
    if (!o->update.segments[i].masked)
      continue;
    const std::vector<uint8_t> &mask = host.mask(o->params[i].name);
    cuda::CUdeviceptr d = 0;
    COLM_TRY(alloc(d, mask.size(), "masks"));
    o->masks.push_back(d);
    COLM_TRY(check(f.cuMemcpyHtoD(d, mask.data(), mask.size()),
                   "copying masks to the GPU"));
    table[i] = d;
  }
  COLM_TRY(alloc(o->maskTable, table.size() * sizeof(cuda::CUdeviceptr),
                 "mask table"));
  COLM_TRY(check(f.cuMemcpyHtoD(o->maskTable, table.data(),
                                table.size() * sizeof(cuda::CUdeviceptr)),
                 "copying masks to the GPU"));
  return o;
}

CudaOptimizer::~CudaOptimizer() {
  if (!driver || !context)
    return;
  const cuda::DriverApi &f = driver->api();
  f.cuCtxSetCurrent(context);
  for (cuda::CUmodule m : modules)
    f.cuModuleUnload(m);
  shards.reset();
  for (cuda::CUdeviceptr p : {weights, grads, expAvg, expAvgSq, partials,
                              maskTable, sliceWeights, sliceGrads})
    if (p)
      f.cuMemFree(p);
  for (cuda::CUdeviceptr p : masks)
    f.cuMemFree(p);
  f.cuDevicePrimaryCtxRelease(dev);
}

Status CudaOptimizer::bind(CudaExecutor &e) const {
  const Program &prog = e.program();
  for (const ProgramBuffer &b : prog.buffers) {
    if (b.role != BufferRole::Param)
      continue;
    const Param *p = nullptr;
    for (const Param &q : params)
      if (q.name == b.name)
        p = &q;
    if (!p)
      return Status::error("the model has no parameter '" + b.name + "'");
    if (b.type != ElementType::F32 || b.elements(prog.maxSizes) != p->size)
      return Status::error("the GPU optimizer binds whole fp32 parameters; "
                           "the program wants '" +
                           b.name + "' otherwise");
    COLM_TRY(e.bindDevice(b.name, weights + cuda::CUdeviceptr(p->offset) * 4,
                          p->size * 4));
  }
  return Status::ok();
}

Status CudaOptimizer::launch(int which, const ColmAdamWArgs &args) const {
  unsigned grid[3], block[3];
  geometry[which](&args, grid, block);
  void *kernelParams[] = {const_cast<ColmAdamWArgs *>(&args)};
  const cuda::DriverApi &f = driver->api();
  COLM_TRY(driver->check(
      f.cuLaunchKernel(functions[which], grid[0], grid[1], grid[2], block[0],
                       block[1], block[2], 0, nullptr, kernelParams, nullptr),
      which ? "launching the norm kernel" : "launching the AdamW kernel"));
  return driver->check(f.cuCtxSynchronize(), "the GPU optimizer's step");
}

Result<double> CudaOptimizer::sumSquares(cuda::CUdeviceptr values) const {
  ColmAdamWArgs a{};
  a.grad = reinterpret_cast<const float *>(values);
  a.masks = reinterpret_cast<const uint8_t *const *>(maskTable);
  a.partials = reinterpret_cast<double *>(partials);
  COLM_TRY(launch(1, a));
  std::vector<double> sums(static_cast<size_t>(blocks));
  COLM_TRY(driver->check(
      driver->api().cuMemcpyDtoH(sums.data(), partials, sums.size() * 8),
      "copying the norm's partial sums"));
  return colmAdamWSumPartials(sums.data(), int64_t(sums.size()));
}

Result<StepStats> CudaOptimizer::step(CudaExecutor &e, int64_t step) {
  const cuda::DriverApi &f = driver->api();
  COLM_TRY(driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  // The program's gradients into the flat array, device to device.
  for (const Param &p : params) {
    auto from = e.deviceAddress("grad." + p.name);
    if (!from)
      continue; // not trained by this program: stays zero
    COLM_TRY(
        driver->check(f.cuMemcpyDtoD(grads + cuda::CUdeviceptr(p.offset) * 4,
                                     *from, size_t(p.size) * 4),
                      ("gathering the gradient of '" + p.name + "'").c_str()));
  }
  std::string stepName = "step " + std::to_string(step);
  StepStats stats;
  double sumSq = 0;
  if (shards) {
    // This rank's slice of the batch's gradient; the norm over all slices.
    COLM_TRY(shards->reduceScatter(grads, batchShare, sliceGrads, stepName));
    COLM_ASSIGN_OR_RETURN(sumSq, sumSquares(sliceGrads));
    COLM_TRY(
        comm->allReduceSumNow(&sumSq, 1, "the gradient norm of " + stepName));
  } else {
    COLM_ASSIGN_OR_RETURN(sumSq, sumSquares(grads));
  }
  stats.gradNorm = std::sqrt(sumSq);
  if (!std::isfinite(stats.gradNorm))
    return Status::error("optimizer step " + std::to_string(step) +
                         ": the gradient norm is " +
                         (std::isnan(stats.gradNorm) ? "NaN" : "infinite") +
                         "; parameters were not updated");
  double scale = clipScale(cfg, stats.gradNorm, &stats.clipped);
  stats.lr = learningRate(cfg, step);
  ++steps;
  double t = double(steps);
  ColmAdamWArgs a{};
  a.param = reinterpret_cast<float *>(shards ? sliceWeights : weights);
  a.grad = reinterpret_cast<const float *>(shards ? sliceGrads : grads);
  a.exp_avg = reinterpret_cast<float *>(expAvg);
  a.exp_avg_sq = reinterpret_cast<float *>(expAvgSq);
  a.masks = reinterpret_cast<const uint8_t *const *>(maskTable);
  a.lr = stats.lr;
  a.beta1 = cfg.beta1;
  a.beta2 = cfg.beta2;
  a.eps = cfg.eps;
  a.weight_decay = cfg.weightDecay;
  a.grad_scale = scale;
  a.bias_correction1 = 1.0 - std::pow(cfg.beta1, t);
  a.bias_correction2 = 1.0 - std::pow(cfg.beta2, t);
  COLM_TRY(launch(0, a));
  // Non-finite weights show in their squared norm (a few KB come back).
  double weightsSq = 0;
  if (shards) {
    COLM_TRY(shards->allGather(sliceWeights, weights,
                               "the updated weights of " + stepName));
    COLM_ASSIGN_OR_RETURN(weightsSq, sumSquares(sliceWeights));
    COLM_TRY(comm->allReduceSumNow(&weightsSq, 1,
                                   "the weights' norm of " + stepName));
  } else {
    COLM_ASSIGN_OR_RETURN(weightsSq, sumSquares(weights));
  }
  if (!std::isfinite(weightsSq))
    return Status::error("optimizer step " + std::to_string(step) +
                         ": the update made a weight non-finite (is --lr too "
                         "large?)");
  return stats;
}

std::vector<dist::FlatParam> CudaOptimizer::layout() const {
  std::vector<dist::FlatParam> out;
  for (const Param &p : params)
    out.push_back({p.name, p.shape, p.offset});
  return out;
}

Status CudaOptimizer::download(TensorMap &out, Optimizer &host) const {
  const cuda::DriverApi &f = driver->api();
  COLM_TRY(driver->check(f.cuCtxSetCurrent(context), "cuCtxSetCurrent"));
  TensorMap state;
  state.emplace("step", stepCountTensor(steps));
  for (const Param &p : params) {
    size_t at = size_t(p.offset) * 4, n = size_t(p.size) * 4;
    Tensor &w = out.at(p.name);
    COLM_TRY(driver->check(f.cuMemcpyDtoH(w.data.data(), weights + at, n),
                           ("copying '" + p.name + "' from the GPU").c_str()));
    if (shards)
      continue;
    Tensor m(p.shape), v(p.shape);
    COLM_TRY(driver->check(f.cuMemcpyDtoH(m.data.data(), expAvg + at, n),
                           "copying moments from the GPU"));
    COLM_TRY(driver->check(f.cuMemcpyDtoH(v.data.data(), expAvgSq + at, n),
                           "copying moments from the GPU"));
    state.emplace("exp_avg." + p.name, std::move(m));
    state.emplace("exp_avg_sq." + p.name, std::move(v));
  }
  if (shards) {
    COLM_TRY(gatherMoments(expAvg, "exp_avg.", state));
    COLM_TRY(gatherMoments(expAvgSq, "exp_avg_sq.", state));
  }
  return host.loadState(state);
}

Status CudaOptimizer::gatherMoments(cuda::CUdeviceptr slice,
                                    const std::string &prefix,
                                    TensorMap &state) const {
  COLM_TRY(shards->allGather(slice, 0, "gathering the moments"));
  COLM_ASSIGN_OR_RETURN(std::vector<float> packed, shards->packedToHost());
  for (const Param &p : params)
    state.emplace(prefix + p.name, Tensor(p.shape));
  for (const dist::GpuExchange::Block &b : shards->trainableBlocks()) {
    float *to = state.at(prefix + params[b.param].name).data.data();
    for (int64_t r = 0; r < b.rows; ++r)
      std::copy_n(packed.data() + b.packed + r * b.width, b.width,
                  to + (b.row + r) * b.columns + b.column);
  }
  return Status::ok();
}

Status CudaOptimizer::shard(const Sharding &sharding, const Optimizer &host) {
  (void)host;
  comm = sharding.comm;
  COLM_ASSIGN_OR_RETURN(
      shards, dist::GpuExchange::create(comm, context, sharding.model,
                                        sharding.frozenChains, layout()));
  // The segments of this rank's slice of the packed vector, at offsets
  // from the slice's start: every entry trains, matrices decay.
  int64_t lo = shards->sliceBegin(), hi = lo + shards->sliceEntries();
  codegen::AdamWSpec cut;
  for (const dist::GpuExchange::Block &b : shards->trainableBlocks()) {
    int64_t a = std::max(b.packed, lo),
            e = std::min(b.packed + b.rows * b.width, hi);
    if (a >= e)
      continue;
    codegen::AdamWSegment *last =
        cut.segments.empty() ? nullptr : &cut.segments.back();
    if (last && last->offset + last->size == a - lo && last->decay == b.decay)
      last->size += e - a;
    else
      cut.segments.push_back({a - lo, e - a, b.decay, false});
  }
  if (cut.segments.empty())
    return Status::error("rank " + std::to_string(comm->rank()) +
                         " has no share of the " +
                         std::to_string(shards->trainableEntries()) +
                         " trainable entries: run fewer ranks");
  update = cut;
  update.mode = codegen::AdamWMode::Update;
  sumsq = cut;
  sumsq.mode = codegen::AdamWMode::SumSquares;
  sumsq.blockSize = kNormBlock;
  return Status::ok();
}

} // namespace colm
