//===- Plot.cpp - Loss curves as self-contained SVG -----------------------===//

#include "runtime/Plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace colm {

namespace {

constexpr double kWidth = 760, kHeight = 440;
constexpr double kLeft = 70, kRight = 20, kTop = 44, kBottom = 52;
const char *const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                               "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string escape(const std::string &s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      // Control characters are not allowed in XML 1.0 text.
      if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n')
        out.push_back(c);
    }
  }
  return out;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

/// A step of 1, 2 or 5 times a power of ten giving about `count` intervals.
double niceStep(double range, int count) {
  double raw = range / count;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / mag;
  double nice = norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10;
  return nice * mag;
}

struct Range {
  double lo = 0, hi = 1;
};

Range niceRange(double lo, double hi) {
  if (!(hi > lo)) {
    double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  double step = niceStep(hi - lo, 5);
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step};
}

} // namespace

std::string lineChartSvg(const std::vector<PlotSeries> &series,
                         const std::string &title, const std::string &xLabel,
                         const std::string &yLabel) {
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const PlotSeries &s : series)
    for (auto [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y))
        continue;
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymin = std::min(ymin, y);
      ymax = std::max(ymax, y);
    }
  bool empty = !(xmin <= xmax);
  Range xr = empty ? Range() : niceRange(xmin, xmax);
  Range yr = empty ? Range() : niceRange(ymin, ymax);
  double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto px = [&](double x) {
    return kLeft + (x - xr.lo) / (xr.hi - xr.lo) * pw;
  };
  auto py = [&](double y) {
    return kTop + ph - (y - yr.lo) / (yr.hi - yr.lo) * ph;
  };

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt(kWidth) +
         "\" height=\"" + fmt(kHeight) + "\" viewBox=\"0 0 " + fmt(kWidth) +
         " " + fmt(kHeight) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + fmt(kWidth / 2) +
         "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" +
         escape(title) + "</text>\n";

  // Grid, ticks and tick labels.
  svg += "<g class=\"axes\" stroke=\"#dddddd\" stroke-width=\"1\">\n";
  std::string labels;
  double xs = niceStep(xr.hi - xr.lo, 5), ys = niceStep(yr.hi - yr.lo, 5);
  for (int i = 0; xr.lo + i * xs <= xr.hi + xs * 1e-9; ++i) {
    double x = xr.lo + i * xs;
    svg += "<line x1=\"" + fmt(px(x)) + "\" y1=\"" + fmt(kTop) + "\" x2=\"" +
           fmt(px(x)) + "\" y2=\"" + fmt(kTop + ph) + "\"/>\n";
    labels += "<text x=\"" + fmt(px(x)) + "\" y=\"" + fmt(kTop + ph + 16) +
              "\" text-anchor=\"middle\">" + label(x) + "</text>\n";
  }
  for (int i = 0; yr.lo + i * ys <= yr.hi + ys * 1e-9; ++i) {
    double y = yr.lo + i * ys;
    svg += "<line x1=\"" + fmt(kLeft) + "\" y1=\"" + fmt(py(y)) + "\" x2=\"" +
           fmt(kLeft + pw) + "\" y2=\"" + fmt(py(y)) + "\"/>\n";
    labels += "<text x=\"" + fmt(kLeft - 6) + "\" y=\"" + fmt(py(y) + 4) +
              "\" text-anchor=\"end\">" + label(y) + "</text>\n";
  }
  svg += "</g>\n";
  svg += "<rect x=\"" + fmt(kLeft) + "\" y=\"" + fmt(kTop) + "\" width=\"" +
         fmt(pw) + "\" height=\"" + fmt(ph) +
         "\" fill=\"none\" stroke=\"black\"/>\n";
  svg += labels;
  svg += "<text x=\"" + fmt(kLeft + pw / 2) + "\" y=\"" + fmt(kHeight - 12) +
         "\" text-anchor=\"middle\">" + escape(xLabel) + "</text>\n";
  svg += "<text x=\"16\" y=\"" + fmt(kTop + ph / 2) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
         fmt(kTop + ph / 2) + ")\">" + escape(yLabel) + "</text>\n";
  if (empty)
    svg += "<text x=\"" + fmt(kLeft + pw / 2) + "\" y=\"" + fmt(kTop + ph / 2) +
           "\" text-anchor=\"middle\">no data</text>\n";

  // Series and legend.
  double ly = kTop + 14;
  for (size_t i = 0; i < series.size(); ++i) {
    const char *color = kColors[i % (sizeof(kColors) / sizeof(kColors[0]))];
    std::string pts;
    int count = 0;
    for (auto [x, y] : series[i].points) {
      if (!std::isfinite(x) || !std::isfinite(y))
        continue;
      if (count++)
        pts += ' ';
      pts += fmt(px(x)) + "," + fmt(py(y));
    }
    svg +=
        "<g class=\"series\"><title>" + escape(series[i].name) + "</title>\n";
    if (count == 1)
      svg += "<circle cx=\"" + pts.substr(0, pts.find(',')) + "\" cy=\"" +
             pts.substr(pts.find(',') + 1) + "\" r=\"3\" fill=\"" + color +
             "\"/>\n";
    else if (count > 1)
      svg += "<polyline fill=\"none\" stroke=\"" + std::string(color) +
             "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>\n";
    svg += "</g>\n";
    double lx = kLeft + pw - 190;
    svg += "<line x1=\"" + fmt(lx) + "\" y1=\"" + fmt(ly - 4) + "\" x2=\"" +
           fmt(lx + 24) + "\" y2=\"" + fmt(ly - 4) + "\" stroke=\"" + color +
           "\" stroke-width=\"2\"/>\n";
    svg += "<text x=\"" + fmt(lx + 30) + "\" y=\"" + fmt(ly) + "\">" +
           escape(series[i].name) + "</text>\n";
    ly += 16;
  }
  svg += "</svg>\n";
  return svg;
}

std::string lossCurveSvg(const std::vector<std::pair<double, double>> &train,
                         const std::vector<PlotSeries> &extra,
                         const std::string &title) {
  std::vector<PlotSeries> series;
  series.push_back({"train loss", train});
  series.insert(series.end(), extra.begin(), extra.end());
  return lineChartSvg(series, title, "step", "loss");
}

} // namespace colm
