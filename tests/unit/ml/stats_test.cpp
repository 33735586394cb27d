#include "ml/stats.hpp"

#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ml/special.hpp"

// Properties and hand-computed values; the comparisons with scipy live in
// tests/ml/test_stats_exactness.py.

namespace stagegate::ml {
namespace {

using Table = std::vector<std::vector<double>>;

bool Mentions(const Error& error, const std::string& text) {
  return error.message.find(text) != std::string::npos;
}

TEST(StatsKs, IdenticalSamplesGiveZeroAndOne) {
  const std::vector<double> a = {3, 1, 2, 2, 5};
  auto r = KolmogorovSmirnov2(a, a);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->statistic, 0.0);
  EXPECT_EQ(r->p_value, 1.0);
}

TEST(StatsKs, TinyDisjointSamplesHaveHandCountedExactPValues) {
  // n = 1 vs 1: both orderings give D = 1, so P(D >= 1) = 1.
  auto one = KolmogorovSmirnov2(std::vector<double>{0}, std::vector<double>{1});
  ASSERT_TRUE(one);
  EXPECT_EQ(one->statistic, 1.0);
  EXPECT_DOUBLE_EQ(one->p_value, 1.0);
  // n = 2 vs 2: D = 1 only for the 2 of the C(4, 2) = 6 orderings that separate the samples.
  auto two = KolmogorovSmirnov2(std::vector<double>{0, 1}, std::vector<double>{5, 6});
  ASSERT_TRUE(two);
  EXPECT_EQ(two->statistic, 1.0);
  EXPECT_NEAR(two->p_value, 1.0 / 3.0, 1e-15);
  // n = 1 vs 2 with the single value in the middle: D = 1/2, and every ordering reaches it.
  auto mid = KolmogorovSmirnov2(std::vector<double>{0.5}, std::vector<double>{0, 1});
  ASSERT_TRUE(mid);
  EXPECT_EQ(mid->statistic, 0.5);
  EXPECT_NEAR(mid->p_value, 1.0, 1e-15);
}

TEST(StatsKs, TiesAreEvaluatedAfterAllEqualValues) {
  // F_a jumps to 1 at 1; F_b reaches 1/2 at 1 and 1 at 2: D = 1/2 (not 1 from a partial tie).
  auto r = KolmogorovSmirnov2(std::vector<double>{1, 1}, std::vector<double>{1, 2});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->statistic, 0.5);
}

TEST(StatsKs, IsSymmetricAndShiftDetectsDrift) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal;
  std::vector<double> a(3000);
  std::vector<double> b(2500);
  for (double& x : a) {
    x = normal(rng);
  }
  for (double& x : b) {
    x = normal(rng) + 0.5;
  }
  auto ab = KolmogorovSmirnov2(a, b);
  auto ba = KolmogorovSmirnov2(b, a);
  ASSERT_TRUE(ab && ba);
  EXPECT_DOUBLE_EQ(ab->statistic, ba->statistic);
  EXPECT_DOUBLE_EQ(ab->p_value, ba->p_value);
  EXPECT_GT(ab->statistic, 0.1);
  EXPECT_LT(ab->p_value, 1e-10);
}

TEST(StatsKs, LargeSamplesUseTheAsymptoticBranch) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  std::vector<double> a(200000);
  std::vector<double> b(150000);
  for (double& x : a) {
    x = normal(rng);
  }
  for (double& x : b) {
    x = normal(rng);
  }
  auto r = KolmogorovSmirnov2(a, b);
  ASSERT_TRUE(r);
  EXPECT_LT(r->statistic, 0.02);
  EXPECT_GT(r->p_value, 1e-4);  // same distribution
  EXPECT_LE(r->p_value, 1.0);
}

TEST(StatsKs, RejectsEmptyAndNaN) {
  const std::vector<double> empty;
  const std::vector<double> one = {1.0};
  auto r = KolmogorovSmirnov2(empty, one);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Mentions(r.error(), "a is empty"));
  auto n = KolmogorovSmirnov2(one, std::vector<double>{2.0, std::nan("")});
  ASSERT_FALSE(n);
  EXPECT_TRUE(Mentions(n.error(), "b[1] is NaN"));
}

TEST(StatsChi2, TwoByTwoUsesYates) {
  // Expected 5 everywhere; Yates moves 10 -> 9.5 and 0 -> 0.5: 4 * 4.5^2 / 5 = 16.2.
  auto r = Chi2Contingency(Table{{10, 0}, {0, 10}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->dof, 1);
  EXPECT_NEAR(r->statistic, 16.2, 1e-12);
  EXPECT_NEAR(r->p_value, std::erfc(std::sqrt(16.2 / 2)), 1e-15);
}

TEST(StatsChi2, YatesNeverOvershootsTheExpectedCount) {
  // |expected - observed| = 0.25 < 0.5: the corrected table equals the expected one.
  auto r = Chi2Contingency(Table{{1.25, 0.75}, {0.75, 1.25}});
  ASSERT_TRUE(r);
  EXPECT_NEAR(r->statistic, 0.0, 1e-15);
  EXPECT_NEAR(r->p_value, 1.0, 1e-15);
}

TEST(StatsChi2, TwoByThreeWithoutCorrection) {
  // Expected 20 in every cell; four cells off by 10: 4 * 100 / 20 = 20; dof 2: sf = e^(-x/2).
  auto r = Chi2Contingency(Table{{10, 20, 30}, {30, 20, 10}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dof, 2);
  EXPECT_NEAR(r->statistic, 20.0, 1e-12);
  EXPECT_NEAR(r->p_value / std::exp(-10.0), 1.0, 1e-13);
}

TEST(StatsChi2, SingleRowHasNoDegreesOfFreedom) {
  auto r = Chi2Contingency(Table{{3, 4, 5}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dof, 0);
  EXPECT_EQ(r->statistic, 0.0);
  EXPECT_EQ(r->p_value, 1.0);
}

TEST(StatsChi2, RejectsBadTables) {
  EXPECT_TRUE(Mentions(Chi2Contingency(Table{}).error(), "no cells"));
  EXPECT_TRUE(Mentions(Chi2Contingency(Table{{1, 2}, {3}}).error(), "row 1 has 1 cells"));
  EXPECT_TRUE(Mentions(Chi2Contingency(Table{{1, -2}, {3, 4}}).error(), "observed[0][1]"));
  EXPECT_TRUE(Mentions(Chi2Contingency(Table{{0, 0}, {3, 4}}).error(), "row 0 sums to 0"));
  EXPECT_TRUE(Mentions(Chi2Contingency(Table{{1, 0}, {3, 0}}).error(), "column 1 sums to 0"));
}

TEST(StatsSpecial, ChiSquareSfClosedForms) {
  for (double x : {1e-8, 0.3, 1.0, 4.0, 30.0, 200.0, 1400.0}) {
    EXPECT_NEAR(ChiSquareSf(2, x) / std::exp(-x / 2), 1.0, 1e-13) << x;
    const double one = std::erfc(std::sqrt(x / 2));
    if (one > 1e-300) {
      EXPECT_NEAR(ChiSquareSf(1, x) / one, 1.0, 1e-12) << x;
    }
  }
  EXPECT_EQ(ChiSquareSf(3, 0.0), 1.0);
  EXPECT_TRUE(std::isnan(ChiSquareSf(0, 1.0)));
}

TEST(StatsSpecial, IncompleteGammaPAndQAddUpToOne) {
  for (double a : {0.5, 1.0, 7.5, 120.0, 5000.0}) {
    for (double ratio : {0.01, 0.5, 0.9, 1.0, 1.1, 2.0, 5.0}) {
      const double x = a * ratio;
      EXPECT_NEAR(RegularizedGammaP(a, x) + RegularizedGammaQ(a, x), 1.0, 1e-13) << a << " " << x;
    }
  }
  // Q(1, x) = e^-x, far into the tail.
  EXPECT_NEAR(RegularizedGammaQ(1.0, 700.0) / std::exp(-700.0), 1.0, 1e-13);
}

TEST(StatsSpecial, KolmogorovDistributionKnownValues) {
  // n = 1: D_1 = max(U, 1 - U), so P(D_1 >= d) = 2 (1 - d) for d >= 1/2.
  EXPECT_NEAR(KolmogorovTwoSidedSf(1, 0.8), 0.4, 1e-15);
  EXPECT_EQ(KolmogorovTwoSidedSf(10, 1.0), 0.0);
  EXPECT_EQ(KolmogorovTwoSidedSf(10, 0.01), 1.0);
  // Large n approaches Kolmogorov's limit K(1) = 0.2699996716773545 (error O(1/sqrt(n))).
  EXPECT_NEAR(KolmogorovTwoSidedSf(1'000'000, 1.0 / 1000.0), 0.2699996716773545, 2e-3);
  // Smirnov: P(D+_n >= d) = (1 - d)^n near d = 1.
  EXPECT_NEAR(SmirnovSf(5, 0.9) / std::pow(0.1, 5), 1.0, 1e-12);
}

// The Birnbaum-Tingey sum over every term, from v = 0 up, as SmirnovSf computed it before it
// started at the mode: the walk from the mode must not lose any term that matters.
double SmirnovSfEveryTerm(long long n, double d) {
  const long double ln_nfact = lgammal(static_cast<long double>(n) + 1);
  const long double ld_n = static_cast<long double>(n);
  long double sum = 0.0L;
  const auto last = n - static_cast<long long>(std::floor(static_cast<double>(n) * d)) - 1;
  for (long long v = 0; v <= last; ++v) {
    const long double ld_v = static_cast<long double>(v);
    const long double level = d + ld_v / ld_n;
    if (1.0L - level <= 0.0L) break;
    sum += expl(ln_nfact - lgammal(ld_v + 1) - lgammal(ld_n - ld_v + 1) + (ld_v - 1) * logl(level) +
                (ld_n - ld_v) * log1pl(-level));
  }
  return static_cast<double>(static_cast<long double>(d) * sum);
}

TEST(StatsSpecial, SmirnovFromTheModeMatchesEveryTerm) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (const long long n : {3LL, 10LL, 57LL, 400LL, 2'500LL, 30'000LL, 200'000LL}) {
    for (int k = 0; k < 12; ++k) {
      // d from just above 1/n to where the tail is ~1e-12, spread on a sqrt(n) scale.
      const double d = std::min(
          0.99, 1.5 / static_cast<double>(n) + unit(rng) * 4.0 / std::sqrt(static_cast<double>(n)));
      const double expected = SmirnovSfEveryTerm(n, d);
      if (expected < 1e-300) continue;
      EXPECT_NEAR(SmirnovSf(n, d) / expected, 1.0, 1e-11) << "n=" << n << " d=" << d;
    }
  }
}

TEST(StatsJs, IdenticalDisjointAndSymmetric) {
  const std::vector<double> p = {1, 2, 3, 0};
  EXPECT_EQ(*JensenShannonDistance(p, std::vector<double>{2, 4, 6, 0}), 0.0);
  EXPECT_NEAR(*JensenShannonDistance(std::vector<double>{1, 0}, std::vector<double>{0, 1}),
              std::sqrt(std::numbers::ln2), 1e-15);
  const std::vector<double> q = {3, 1, 0, 2};
  EXPECT_DOUBLE_EQ(*JensenShannonDistance(p, q), *JensenShannonDistance(q, p));
}

TEST(StatsJs, RejectsBadHistograms) {
  const std::vector<double> two = {1, 2};
  EXPECT_TRUE(Mentions(JensenShannonDistance(two, std::vector<double>{1, 2, 3}).error(),
                       "p has 2 bins but q has 3"));
  EXPECT_TRUE(Mentions(JensenShannonDistance(std::vector<double>{1, -1}, two).error(), "p[1]"));
  EXPECT_TRUE(
      Mentions(JensenShannonDistance(two, std::vector<double>{0, 0}).error(), "q sums to 0"));
}

TEST(StatsWasserstein, HandValuesAndShift) {
  EXPECT_DOUBLE_EQ(*Wasserstein1(std::vector<double>{0}, std::vector<double>{1}), 1.0);
  // {0} vs {0, 2}: |F_u - F_v| = 1/2 on [0, 2): area 1.
  EXPECT_DOUBLE_EQ(*Wasserstein1(std::vector<double>{0}, std::vector<double>{0, 2}), 1.0);
  const std::vector<double> u = {0.5, -1, 3, 3, 7};
  std::vector<double> shifted = u;
  for (double& x : shifted) {
    x += 2.5;
  }
  EXPECT_NEAR(*Wasserstein1(u, shifted), 2.5, 1e-14);
  EXPECT_EQ(*Wasserstein1(u, u), 0.0);
  EXPECT_TRUE(Mentions(Wasserstein1(u, std::vector<double>{}).error(), "v is empty"));
  EXPECT_TRUE(Mentions(Wasserstein1(std::vector<double>{INFINITY}, u).error(), "u[0]"));
}

TEST(StatsPsi, ZeroSymmetricAndHandComputed) {
  const std::vector<double> e = {0.5, 0.5};
  const std::vector<double> a = {0.25, 0.75};
  EXPECT_EQ(*PopulationStabilityIndex(e, e, 1e-4), 0.0);
  EXPECT_NEAR(*PopulationStabilityIndex(e, a, 1e-4), 0.25 * std::log(3.0), 1e-15);
  EXPECT_DOUBLE_EQ(*PopulationStabilityIndex(e, a, 1e-4), *PopulationStabilityIndex(a, e, 1e-4));
  // Counts are scaled to proportions; the empty bin is floored at epsilon.
  const double floored =
      *PopulationStabilityIndex(std::vector<double>{4, 0}, std::vector<double>{1, 1}, 1e-4);
  EXPECT_NEAR(floored, -0.5 * std::log(0.5) + (0.5 - 1e-4) * std::log(0.5 / 1e-4), 1e-14);
}

TEST(StatsPsi, RejectsBadInput) {
  const std::vector<double> two = {1, 2};
  EXPECT_TRUE(Mentions(PopulationStabilityIndex(two, std::vector<double>{1}, 1e-4).error(),
                       "expected has 2 bins but actual has 1"));
  EXPECT_TRUE(Mentions(PopulationStabilityIndex(two, two, 0.0).error(), "epsilon"));
  EXPECT_TRUE(Mentions(PopulationStabilityIndex(std::vector<double>{-1, 2}, two, 1e-4).error(),
                       "expected[0]"));
}

TEST(StatsQuantile, LinearInterpolationLikeNumpy) {
  const std::vector<double> v = {1, 2, 3, 4};
  EXPECT_EQ(*Quantile(v, 0.5), 2.5);
  EXPECT_EQ(*Quantile(v, 0.0), 1.0);
  EXPECT_EQ(*Quantile(v, 1.0), 4.0);
  EXPECT_NEAR(*Quantile(v, 0.25), 1.75, 1e-15);
  EXPECT_EQ(*Quantile(std::vector<double>{7}, 0.3), 7.0);
  EXPECT_TRUE(Mentions(Quantile(v, 1.5).error(), "q = 1.5"));
  EXPECT_TRUE(Mentions(Quantile(std::vector<double>{}, 0.5).error(), "sorted is empty"));
}

TEST(StatsBinning, EdgesAreDeduplicatedAndProportionsSumToOne) {
  const std::vector<double> reference = {0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  auto edges = QuantileEdges(reference, 5);
  ASSERT_TRUE(edges) << edges.error().message;
  // Levels 0, .2, .4 all give 0 (repeated edges dropped); .6 -> 0.4, .8 -> 2.2, 1 -> 4.
  const std::vector<double> want = {0, 0.4, 2.2, 4};
  ASSERT_EQ(edges->size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR((*edges)[i], want[i], 1e-15) << i;
  }
  const std::vector<double> current = {-5, 0, 0.5, 1, 3, 9};
  auto p = BinProportions(current, *edges);
  ASSERT_TRUE(p);
  // Bins: (-inf, 0.4), [0.4, 2.2), [2.2, +inf).
  ASSERT_EQ(p->size(), 3U);
  EXPECT_DOUBLE_EQ((*p)[0], 2.0 / 6);
  EXPECT_DOUBLE_EQ((*p)[1], 2.0 / 6);
  EXPECT_DOUBLE_EQ((*p)[2], 2.0 / 6);
  EXPECT_TRUE(Mentions(QuantileEdges(reference, 0).error(), "bins = 0"));
  EXPECT_TRUE(Mentions(QuantileEdges(std::vector<double>{2, 1}, 3).error(), "not sorted"));
  EXPECT_TRUE(
      Mentions(BinProportions(current, std::vector<double>{1, 1}).error(), "strictly increasing"));
}

TEST(StatsSummary, HandComputed) {
  auto s = Summarize(std::vector<double>{4, 1, 3, 2}, 1);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->count, 4U);
  EXPECT_DOUBLE_EQ(s->missing_rate, 0.2);
  EXPECT_DOUBLE_EQ(s->mean, 2.5);
  EXPECT_DOUBLE_EQ(s->std, std::sqrt(5.0 / 3.0));
  EXPECT_EQ(s->min, 1.0);
  EXPECT_DOUBLE_EQ(s->p25, 1.75);
  EXPECT_DOUBLE_EQ(s->p50, 2.5);
  EXPECT_DOUBLE_EQ(s->p75, 3.25);
  EXPECT_EQ(s->max, 4.0);
}

TEST(StatsSummary, EdgeCases) {
  auto one = Summarize(std::vector<double>{5}, 0);
  ASSERT_TRUE(one);
  EXPECT_TRUE(std::isnan(one->std));
  auto constant = Summarize(std::vector<double>(7, 0.1), 0);
  ASSERT_TRUE(constant);
  EXPECT_EQ(constant->std, 0.0);
  EXPECT_EQ(constant->mean, 0.1);
  auto none = Summarize(std::vector<double>{}, 3);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->missing_rate, 1.0);
  EXPECT_TRUE(std::isnan(none->mean));
  EXPECT_TRUE(Mentions(Summarize(std::vector<double>{}, 0).error(), "nothing to summarize"));
  EXPECT_TRUE(Mentions(Summarize(std::vector<double>{1, NAN}, 0).error(), "values[1]"));
}

}  // namespace
}  // namespace stagegate::ml
