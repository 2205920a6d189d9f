//===- PlotTest.cpp - Tests for runtime/Plot.h ----------------------------===//

#include "runtime/Plot.h"

#include "TestUtil.h"

#include <cmath>

using namespace colm;

namespace {

/// A small XML well-formedness check: balanced tags, quoted attributes, no
/// stray '<' or '&' in text. Returns "" when well-formed, else the problem.
std::string xmlProblem(const std::string &s) {
  std::vector<std::string> stack;
  size_t i = 0;
  if (s.rfind("<?xml", 0) == 0)
    i = s.find("?>") + 2;
  bool root = false;
  while (i < s.size()) {
    if (s[i] == '&') {
      size_t semi = s.find(';', i);
      std::string ent = s.substr(i, semi - i + 1);
      if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;")
        return "bad entity at " + std::to_string(i);
      i = semi + 1;
      continue;
    }
    if (s[i] != '<') {
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(s[i])))
        return "text outside the root at " + std::to_string(i);
      ++i;
      continue;
    }
    size_t end = i + 1;
    char quote = 0;
    for (; end < s.size(); ++end) {
      if (quote) {
        if (s[end] == quote)
          quote = 0;
        else if (s[end] == '<')
          return "'<' in an attribute at " + std::to_string(end);
      } else if (s[end] == '"' || s[end] == '\'') {
        quote = s[end];
      } else if (s[end] == '<') {
        return "'<' inside a tag at " + std::to_string(end);
      } else if (s[end] == '>') {
        break;
      }
    }
    if (end >= s.size())
      return "unterminated tag";
    std::string tag = s.substr(i + 1, end - i - 1);
    if (tag.empty())
      return "empty tag";
    if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1))
        return "mismatched </" + tag.substr(1) + ">";
      stack.pop_back();
    } else if (tag.back() != '/') {
      std::string name = tag.substr(0, tag.find_first_of(" \n\t"));
      if (stack.empty()) {
        if (root)
          return "second root element";
        root = true;
      }
      stack.push_back(name);
    } else if (stack.empty()) {
      return "self-closed root";
    }
    i = end + 1;
  }
  if (!stack.empty())
    return "unclosed <" + stack.back() + ">";
  return root ? "" : "no root element";
}

int count(const std::string &s, const std::string &what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
    ++n;
  return n;
}

} // namespace

TEST(PlotTest, CheckerCatchesBrokenXml) {
  EXPECT_EQ(xmlProblem("<a><b/></a>"), "");
  EXPECT_NE(xmlProblem("<a><b></a>"), "");
  EXPECT_NE(xmlProblem("<a>x < y</a>"), "");
  EXPECT_NE(xmlProblem("<a>&nbsp;</a>"), "");
}

TEST(PlotTest, LossCurveIsWellFormedSvgWithEverySeries) {
  std::vector<std::pair<double, double>> train;
  for (int s = 1; s <= 200; ++s)
    train.push_back({s, 5.5 * std::exp(-s / 60.0) + 1.2});
  train.push_back({201, NAN}); // skipped
  PlotSeries val{"val loss", {{50, 3.0}, {100, 2.2}, {150, 1.9}, {200, 1.8}}};
  PlotSeries sub1{"CE k=1", {{1, 5.6}, {200, 2.4}}};
  PlotSeries one{"CE k=2 <&>", {{100, 2.0}}};
  std::string svg =
      lossCurveSvg(train, {val, sub1, one}, "CoLM-Air [2,2,4] on \"Brown\"");
  EXPECT_EQ(xmlProblem(svg), "") << svg;
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_THAT(
      svg, ::testing::HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_THAT(svg, ::testing::HasSubstr("train loss"));
  EXPECT_THAT(svg, ::testing::HasSubstr("val loss"));
  EXPECT_THAT(svg, ::testing::HasSubstr("CE k=1"));
  EXPECT_THAT(svg, ::testing::HasSubstr("CE k=2 &lt;&amp;&gt;"));
  EXPECT_THAT(svg, ::testing::HasSubstr("&quot;Brown&quot;"));
  EXPECT_EQ(count(svg, "<polyline"), 3);
  EXPECT_EQ(count(svg, "<circle"), 1);
  EXPECT_EQ(count(svg, "<g class=\"series\">"), 4);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  // Axis labels and nice ticks.
  EXPECT_THAT(svg, ::testing::HasSubstr(">step</text>"));
  EXPECT_THAT(svg, ::testing::HasSubstr(">loss</text>"));
  EXPECT_THAT(svg, ::testing::HasSubstr(">100</text>"));
  EXPECT_THAT(svg, ::testing::HasSubstr(">2</text>"));
}

TEST(PlotTest, EmptyAndFlatSeriesStillRender) {
  std::string empty = lossCurveSvg({}, {}, "nothing yet");
  EXPECT_EQ(xmlProblem(empty), "");
  EXPECT_THAT(empty, ::testing::HasSubstr("no data"));
  std::string flat = lossCurveSvg({{1, 2.0}, {2, 2.0}, {3, 2.0}}, {}, "flat");
  EXPECT_EQ(xmlProblem(flat), "");
  EXPECT_EQ(flat.find("nan"), std::string::npos);
  EXPECT_EQ(flat.find("inf"), std::string::npos);
}
