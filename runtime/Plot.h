//===- Plot.h - Loss curves as self-contained SVG ---------------*- C++ -*-===//
//
// `colm train` draws its JSONL log as a picture: one line per series (the
// training loss, the validation loss, the cross-entropy of each sub-model)
// over the step, with axes, ticks, a legend and a title. No fonts, scripts or
// external references: the SVG renders anywhere.
//
//===----------------------------------------------------------------------===//

#ifndef COLM_RUNTIME_PLOT_H
#define COLM_RUNTIME_PLOT_H

#include <string>
#include <utility>
#include <vector>

namespace colm {

struct PlotSeries {
  std::string name;
  /// (x, y) points in drawing order; non-finite points are skipped.
  std::vector<std::pair<double, double>> points;
};

/// A line chart of `series` (colours in order, a legend entry each).
std::string lineChartSvg(const std::vector<PlotSeries> &series,
                         const std::string &title, const std::string &xLabel,
                         const std::string &yLabel);

/// The loss curve: `train` (step, loss) as "train loss", then `extra`
/// (validation loss, per-sub-model CE, ...), x = step, y = loss.
std::string lossCurveSvg(const std::vector<std::pair<double, double>> &train,
                         const std::vector<PlotSeries> &extra,
                         const std::string &title);

} // namespace colm

#endif // COLM_RUNTIME_PLOT_H
