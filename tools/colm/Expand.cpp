//===- Expand.cpp - colm expand ---------------------------------*- C++ -*-===//
#include "tools/colm/Commands.h"

#include "compiler/Graph.h"
#include "compiler/Pipeline.h"
#include "runtime/Checkpoint.h"
#include "runtime/Expand.h"
#include "runtime/Model.h"
#include "runtime/Tokenizer.h"
#include "tools/colm/Args.h"

#include "mlir/IR/MLIRContext.h"

#include <cmath>
#include <cstdio>

namespace colm::cli {

Status runExpand(const std::vector<std::string> &argv) {
  Args args("expand", "--model DIR --add-chains c1 [c2 ...] --out DIR2",
            "Appends chains to a trained model (progressive scaling): the old "
            "model becomes\nchains 1..n, new weights are fresh and the new "
            "lm_head columns are zero, so the\nexpanded model's logits equal "
            "the original's. Then `colm train --freeze-chains n`\nis chain "
            "tuning.");
  args.option("--model", "DIR", "model to expand (CoLM, CoLM-Air or LLaMA)",
              true)
      .listOption("--add-chains", "c1 [c2 ...]", "ratios of the new chains",
                  true)
      .option("--out", "DIR2", "where to write the expanded model", true)
      .option("--seed", "S", "seed of the new weights (default 0)")
      .flag("--force", "replace a model that already exists in DIR2 (all of "
                       "it, training state included)");
  COLM_ASSIGN_OR_RETURN(bool helped, args.parseOrPrintHelp(argv));
  if (helped)
    return Status::ok();
  COLM_ASSIGN_OR_RETURN(auto add,
                        parseIntList(args.get("--add-chains"), "--add-chains"));
  COLM_ASSIGN_OR_RETURN(int64_t seed, args.getInt("--seed", 0, 0, INT64_MAX));
  std::string out = args.get("--out");
  bool force = args.isSet("--force");
  COLM_TRY(checkModelDirectoryWritable(out, force));
  COLM_ASSIGN_OR_RETURN(Model model, loadModel(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(Tokenizer tokenizer,
                        loadTokenizer(args.get("--model")));
  COLM_ASSIGN_OR_RETURN(Model expanded,
                        expandModel(model, add, static_cast<uint64_t>(seed)));
  COLM_TRY(saveModelDirectory(out, expanded, tokenizer, force));

  // The promise of expansion, checked on a few tokens.
  std::vector<int32_t> probe;
  for (int32_t i = 0; i < 8; ++i)
    probe.push_back(
        static_cast<int32_t>((i * 37 + 11) % model.config.vocabSize));
  mlir::MLIRContext context;
  dsl::loadDialects(context);
  COLM_ASSIGN_OR_RETURN(auto before, buildSubModel(context, model.config, 0));
  COLM_ASSIGN_OR_RETURN(auto after, buildSubModel(context, expanded.config, 0));
  COLM_ASSIGN_OR_RETURN(HostTensor a, runForward(*before, probe, model.params));
  COLM_ASSIGN_OR_RETURN(HostTensor b,
                        runForward(*after, probe, expanded.params));
  double diff = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    diff = std::max(diff, std::abs(a.data[i] - b.data[i]));
  std::printf("wrote %s: chains %s -> %s, hidden %lld -> %lld, heads %lld -> "
              "%lld\nfull-model logits vs the original on %zu tokens: max "
              "|difference| = %g\n",
              out.c_str(), formatChains(model.config.chains).c_str(),
              formatChains(expanded.config.chains).c_str(),
              (long long)model.config.hiddenSize,
              (long long)expanded.config.hiddenSize,
              (long long)model.config.numHeads,
              (long long)expanded.config.numHeads, probe.size(), diff);
  if (diff != 0)
    return Status::error("internal error: expansion changed the logits");
  return Status::ok();
}

} // namespace colm::cli
