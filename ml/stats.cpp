#include "ml/stats.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>

#include "ml/memory.hpp"
#include "ml/neumaier_sum.hpp"
#include "ml/special.hpp"

namespace stagegate::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

tl::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

// Rejects an empty span or one holding NaN (and, unless allowed, infinities).
Result<void> CheckSample(std::span<const double> values, const char* name, bool allow_inf) {
  if (values.empty()) {
    return Invalid(std::string(name) + " is empty: pass at least one value");
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (std::isnan(v) || (!allow_inf && std::isinf(v))) {
      return Invalid(std::string(name) + "[" + std::to_string(i) + "] is " +
                     (std::isnan(v) ? "NaN" : "infinite") +
                     ": remove missing or non-finite values first");
    }
  }
  return {};
}

Result<void> CheckSorted(std::span<const double> values, const char* name) {
  if (auto ok = CheckSample(values, name, false); !ok) {
    return ok;
  }
  if (!std::is_sorted(values.begin(), values.end())) {
    return Invalid(std::string(name) + " is not sorted ascending: sort it first");
  }
  return {};
}

// Checks a histogram (counts or proportions) and scales it to sum 1.
Result<std::vector<double>> Normalized(std::span<const double> counts, const char* name) {
  if (counts.empty()) {
    return Invalid(std::string(name) + " is empty: pass one count or proportion per bin");
  }
  NeumaierSum total;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (!std::isfinite(counts[i]) || counts[i] < 0) {
      return Invalid(std::string(name) + "[" + std::to_string(i) +
                     "] = " + std::to_string(counts[i]) + ": counts must be finite and >= 0");
    }
    total.Add(counts[i]);
  }
  const double sum = total.Total();
  if (!(sum > 0)) {
    return Invalid(std::string(name) + " sums to 0: at least one bin must be non-empty");
  }
  std::vector<double> out(counts.begin(), counts.end());
  for (double& v : out) {
    v /= sum;
  }
  return out;
}

// Sorts NaN-free data in place. Large inputs use an LSD radix sort on the IEEE-754 bits
// (mapped so that unsigned order is numeric order: flip all bits of negatives, the sign bit of
// the rest), which takes about a tenth of std::sort's time on 10 million doubles. The passes
// alternate between `values` itself (holding keys, copied bytewise) and one scratch buffer.
// -0.0 sorts just before +0.0; they compare equal, so callers see a valid ascending order
// either way.
void SortInPlace(std::span<double> values) {
  constexpr std::size_t kRadixThreshold = 1 << 14;
  if (std::is_sorted(values.begin(), values.end())) {
    return;  // callers often sorted already
  }
  if (values.size() < kRadixThreshold) {
    std::sort(values.begin(), values.end());
    return;
  }
  constexpr std::uint64_t kSign = std::uint64_t{1} << 63;
  constexpr int kDigitBits = 11;  // 6 passes over 2048 buckets
  constexpr int kPasses = (64 + kDigitBits - 1) / kDigitBits;
  constexpr std::uint64_t kMask = (std::uint64_t{1} << kDigitBits) - 1;
  const std::size_t n = values.size();
  const auto to_key = [](double v) {
    const auto bits = std::bit_cast<std::uint64_t>(v);
    return (bits & kSign) != 0 ? ~bits : bits | kSign;
  };
  const auto from_key = [](std::uint64_t key) {
    return std::bit_cast<double>((key & kSign) != 0 ? key & ~kSign : ~key);
  };
  // Keys stored in the doubles' memory are copied bytewise, never read as doubles.
  double* const own = values.data();
  const auto load = [own](std::size_t i) {
    std::uint64_t key = 0;
    std::memcpy(&key, own + i, sizeof key);
    return key;
  };
  const auto store = [own](std::size_t i, std::uint64_t key) {
    std::memcpy(own + i, &key, sizeof key);
  };

  std::vector<std::array<std::size_t, kMask + 1>> counts(kPasses);
  for (auto& c : counts) {
    c.fill(0);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t key = to_key(values[i]);
    store(i, key);
    for (int b = 0; b < kPasses; ++b) {
      ++counts[b][(key >> (kDigitBits * b)) & kMask];
    }
  }
  std::vector<std::uint64_t> scratch = LargeVector<std::uint64_t>(n);
  bool in_scratch = false;  // where the keys are now
  for (int b = 0; b < kPasses; ++b) {
    auto& c = counts[b];
    const int shift = kDigitBits * b;
    const std::uint64_t first = in_scratch ? scratch[0] : load(0);
    if (c[(first >> shift) & kMask] == n) {
      continue;  // every key has the same digit here: the pass would not move anything
    }
    std::size_t offset = 0;
    for (std::size_t& slot : c) {
      const std::size_t count = slot;
      slot = offset;
      offset += count;
    }
    if (in_scratch) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t key = scratch[i];
        store(c[(key >> shift) & kMask]++, key);
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t key = load(i);
        scratch[c[(key >> shift) & kMask]++] = key;
      }
    }
    in_scratch = !in_scratch;
  }
  for (std::size_t i = 0; i < n; ++i) {
    values[i] = from_key(in_scratch ? scratch[i] : load(i));
  }
}

std::vector<double> SortedCopy(std::span<const double> values) {
  std::vector<double> out;
  ReserveLarge(out, values.size());
  out.assign(values.begin(), values.end());
  SortInPlace(out);
  return out;
}

// Values in ascending order: the input itself when it is sorted already (callers such as the
// drift action sort each column once for all tests), otherwise a sorted copy.
class SortedView final {
 public:
  explicit SortedView(std::span<const double> values) : view_(values) {
    if (!std::is_sorted(values.begin(), values.end())) {
      owned_ = SortedCopy(values);
      view_ = owned_;
    }
  }
  SortedView(const SortedView&) = delete;
  SortedView& operator=(const SortedView&) = delete;

  std::size_t size() const { return view_.size(); }
  double operator[](std::size_t i) const { return view_[i]; }
  double front() const { return view_.front(); }
  double back() const { return view_.back(); }
  auto begin() const { return view_.begin(); }
  auto end() const { return view_.end(); }
  operator std::span<const double>() const { return view_; }  // NOLINT(google-explicit-constructor)

 private:
  std::vector<double> owned_;
  std::span<const double> view_;
};

// ---- Exact two-sample KS p-values (Hodges 1958) -----------------------------------------

// P(D_{n,n} >= h/n) for equal sample sizes: 2 * sum_k (-1)^(k+1) C(2n, n - kh) / C(2n, n),
// with each ratio of binomials built as a product of h factors and the alternating sum
// nested in Horner form, P = 2 A1 (1 - A2 (1 - A3 (...))), to avoid cancellation.
double ProbOutsideSquare(std::int64_t n, std::int64_t h) {
  double p = 0.0;
  for (std::int64_t k = n / h; k >= 0; --k) {
    double ratio = 1.0;
    for (std::int64_t j = 0; j < h; ++j) {
      ratio = static_cast<double>(n - k * h - j) * ratio / static_cast<double>(n + k * h + j + 1);
    }
    p = ratio * (1.0 - p);
  }
  return 2 * p;
}

// P(D_{m,n} >= h / lcm(m, n)) for unequal sizes. A path from (0, 0) to (m, n) takes unit
// steps right or up; it stays strictly inside the band |n' x - m' y| < h (m' = m/g,
// n' = n/g) exactly when D < h / lcm. A(x, y), the probability that a uniformly random path
// to (x, y) has left the band, obeys A = 1 outside the band and
// A(x, y) = (x A(x-1, y) + y A(x, y-1)) / (x + y) inside, which computes 1 - p directly
// (Viehmann 2021, arXiv:2102.08037) without the cancellation of 1 - (inside count)/C(m+n, n).
// One column of the band is kept at a time: O(m * band width).
double ProbOutsideBand(std::int64_t m, std::int64_t n, std::int64_t g, std::int64_t h) {
  if (m < n) {
    std::swap(m, n);
  }
  const std::int64_t mg = m / g;
  const std::int64_t ng = n / g;
  auto floor_div = [](std::int64_t a, std::int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
  };
  auto ceil_div = [&](std::int64_t a, std::int64_t b) { return -floor_div(-a, b); };
  // column[j - lo] holds A(x, j) for j in [lo, hi); entries past the window hold 1.
  std::vector<double> column(static_cast<std::size_t>(n) + 2, 1.0);
  std::int64_t lo = 0;
  std::int64_t hi = std::min(ceil_div(h, mg), n + 1);
  std::fill(column.begin(), column.begin() + hi, 0.0);  // x = 0: the vertical path is inside
  for (std::int64_t x = 1; x <= m; ++x) {
    const std::int64_t last_lo = lo;
    const std::int64_t last_len = hi - lo;
    lo = std::min(std::max(floor_div(ng * x - h, mg) + 1, std::int64_t{0}), n);
    hi = std::min(ceil_div(ng * x + h, mg), n + 1);
    if (hi <= lo) {
      return 1.0;  // the band is closed: every path leaves it
    }
    double below = lo == 0 ? 0.0 : 1.0;  // A(x, lo - 1): outside the band, or unused at y = 0
    for (std::int64_t y = lo; y < hi; ++y) {
      const double left = column[static_cast<std::size_t>(y - last_lo)];  // A(x - 1, y)
      below = (left * static_cast<double>(x) + below * static_cast<double>(y)) /
              static_cast<double>(x + y);
      column[static_cast<std::size_t>(y - lo)] = below;
    }
    const std::int64_t len = hi - lo;
    for (std::int64_t i = len; i < last_len; ++i) {
      column[static_cast<std::size_t>(i)] = 1.0;
    }
  }
  return column[static_cast<std::size_t>(hi - lo - 1)];
}

}  // namespace

void SortValuesInPlace(std::span<double> values) { SortInPlace(values); }

Result<KsResult> KolmogorovSmirnov2(std::span<const double> a, std::span<const double> b) {
  if (auto ok = CheckSample(a, "a", true); !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = CheckSample(b, "b", true); !ok) {
    return tl::unexpected(ok.error());
  }
  const SortedView x(a);
  const SortedView y(b);
  const auto n1 = static_cast<std::int64_t>(x.size());
  const auto n2 = static_cast<std::int64_t>(y.size());
  const double dn1 = static_cast<double>(n1);
  const double dn2 = static_cast<double>(n2);

  // Walk the merged order; after every distinct value, i and j count the elements <= it.
  double max_diff = 0.0;  // the last value gives 1 - 1 = 0, so the maximum is >= 0
  double min_diff = 0.0;
  std::int64_t i = 0;
  std::int64_t j = 0;
  while (i < n1 || j < n2) {
    const double v = (j >= n2 || (i < n1 && x[i] <= y[j])) ? x[i] : y[j];
    while (i < n1 && x[i] == v) {
      ++i;
    }
    while (j < n2 && y[j] == v) {
      ++j;
    }
    const double diff = static_cast<double>(i) / dn1 - static_cast<double>(j) / dn2;
    max_diff = std::max(max_diff, diff);
    min_diff = std::min(min_diff, diff);
  }
  const double min_s = std::clamp(-min_diff, 0.0, 1.0);
  double d = min_s > max_diff ? min_s : max_diff;

  constexpr std::int64_t kMaxExactN = 10000;  // scipy's MAX_AUTO_N
  if (std::max(n1, n2) <= kMaxExactN) {
    const std::int64_t g = std::gcd(n1, n2);
    const std::int64_t lcm = (n1 / g) * n2;
    const auto h = static_cast<std::int64_t>(std::nearbyint(d * static_cast<double>(lcm)));
    const double snapped = static_cast<double>(h) / static_cast<double>(lcm);
    if (h == 0) {
      return KsResult{snapped, 1.0};
    }
    const double p = n1 == n2 ? ProbOutsideSquare(n1, h) : ProbOutsideBand(n1, n2, g, h);
    d = snapped;
    if (p >= 0.0 && p <= 1.0) {
      return KsResult{d, p};
    }
    // Rounding pushed the exact value out of [0, 1]: scipy warns and uses the asymptotic
    // distribution with the snapped statistic; so do we.
  }
  const double larger = std::max(dn1, dn2);
  const double smaller = std::min(dn1, dn2);
  const double en = larger * smaller / (larger + smaller);
  const auto n_eff = static_cast<long long>(std::nearbyint(en));
  const double p = KolmogorovTwoSidedSf(std::max(n_eff, 1LL), d);
  return KsResult{d, std::clamp(p, 0.0, 1.0)};
}

Result<Chi2Result> Chi2Contingency(const std::vector<std::vector<double>>& observed) {
  const std::size_t rows = observed.size();
  const std::size_t cols = rows == 0 ? 0 : observed[0].size();
  if (rows == 0 || cols == 0) {
    return Invalid("observed has no cells: pass a table with at least one row and one column");
  }
  for (std::size_t r = 0; r < rows; ++r) {
    if (observed[r].size() != cols) {
      return Invalid("observed row " + std::to_string(r) + " has " +
                     std::to_string(observed[r].size()) + " cells but row 0 has " +
                     std::to_string(cols) + ": every row needs one count per column");
    }
    for (std::size_t c = 0; c < cols; ++c) {
      const double v = observed[r][c];
      if (!std::isfinite(v) || v < 0) {
        return Invalid("observed[" + std::to_string(r) + "][" + std::to_string(c) +
                       "] = " + std::to_string(v) + ": counts must be finite and >= 0");
      }
    }
  }
  std::vector<double> row_sum(rows, 0.0);
  std::vector<double> col_sum(cols, 0.0);
  NeumaierSum total_sum;
  for (std::size_t r = 0; r < rows; ++r) {
    NeumaierSum s;
    for (std::size_t c = 0; c < cols; ++c) {
      s.Add(observed[r][c]);
      total_sum.Add(observed[r][c]);
    }
    row_sum[r] = s.Total();
  }
  for (std::size_t c = 0; c < cols; ++c) {
    NeumaierSum s;
    for (std::size_t r = 0; r < rows; ++r) {
      s.Add(observed[r][c]);
    }
    col_sum[c] = s.Total();
  }
  const double total = total_sum.Total();
  std::vector<std::vector<double>> expected(rows, std::vector<double>(cols));
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      expected[r][c] = row_sum[r] * col_sum[c] / total;
      if (!(expected[r][c] > 0)) {  // also catches total == 0 (NaN)
        const bool empty_row = !(row_sum[r] > 0);
        return Invalid("the expected frequency at observed[" + std::to_string(r) + "][" +
                       std::to_string(c) + "] is 0 because " +
                       (empty_row ? "row " + std::to_string(r) : "column " + std::to_string(c)) +
                       " sums to 0: drop empty categories before the chi-square test");
      }
    }
  }
  const int dof = static_cast<int>((rows - 1) * (cols - 1));
  if (dof == 0) {
    return Chi2Result{0.0, 1.0, 0};
  }
  NeumaierSum statistic;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      double o = observed[r][c];
      const double e = expected[r][c];
      if (dof == 1) {
        // Yates: move towards the expected count by at most 0.5 (never past it).
        const double diff = e - o;
        const double sign = diff > 0 ? 1.0 : (diff < 0 ? -1.0 : 0.0);
        o += std::min(0.5, std::fabs(diff)) * sign;
      }
      statistic.Add((o - e) * (o - e) / e);
    }
  }
  const double chi2 = statistic.Total();
  return Chi2Result{chi2, ChiSquareSf(dof, chi2), dof};
}

Result<double> JensenShannonDistance(std::span<const double> p, std::span<const double> q) {
  if (p.size() != q.size()) {
    return Invalid("p has " + std::to_string(p.size()) + " bins but q has " +
                   std::to_string(q.size()) + ": pass both histograms over the same bins");
  }
  auto pn = Normalized(p, "p");
  if (!pn) {
    return tl::unexpected(pn.error());
  }
  auto qn = Normalized(q, "q");
  if (!qn) {
    return tl::unexpected(qn.error());
  }
  // KL(p || m) + KL(q || m), m = (p + q) / 2, with x log(x / y) = 0 for x = 0.
  NeumaierSum divergence;
  for (std::size_t i = 0; i < pn->size(); ++i) {
    const double pi = (*pn)[i];
    const double qi = (*qn)[i];
    const double mi = (pi + qi) / 2.0;
    if (pi > 0) {
      divergence.Add(pi * std::log(pi / mi));
    }
    if (qi > 0) {
      divergence.Add(qi * std::log(qi / mi));
    }
  }
  return std::sqrt(std::max(divergence.Total(), 0.0) / 2.0);
}

Result<double> Wasserstein1(std::span<const double> u, std::span<const double> v) {
  if (auto ok = CheckSample(u, "u", false); !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = CheckSample(v, "v", false); !ok) {
    return tl::unexpected(ok.error());
  }
  const SortedView x(u);
  const SortedView y(v);
  const double nu = static_cast<double>(x.size());
  const double nv = static_cast<double>(y.size());
  // Between consecutive distinct merged values the two CDFs are constant.
  NeumaierSum area;
  std::size_t i = 0;
  std::size_t j = 0;
  auto next_value = [&] { return (j >= y.size() || (i < x.size() && x[i] <= y[j])) ? x[i] : y[j]; };
  double current = next_value();
  while (true) {
    while (i < x.size() && x[i] == current) {
      ++i;
    }
    while (j < y.size() && y[j] == current) {
      ++j;
    }
    if (i == x.size() && j == y.size()) {
      break;
    }
    const double following = next_value();
    const double gap = std::fabs(static_cast<double>(i) / nu - static_cast<double>(j) / nv);
    area.Add(gap * (following - current));
    current = following;
  }
  return area.Total();
}

Result<double> PopulationStabilityIndex(std::span<const double> expected,
                                        std::span<const double> actual, double epsilon) {
  if (expected.size() != actual.size()) {
    return Invalid("expected has " + std::to_string(expected.size()) + " bins but actual has " +
                   std::to_string(actual.size()) + ": pass both over the same bins");
  }
  if (!(epsilon > 0) || !(epsilon < 1)) {
    return Invalid("epsilon = " + std::to_string(epsilon) +
                   ": pass a small positive floor for empty bins, e.g. 1e-4");
  }
  auto e = Normalized(expected, "expected");
  if (!e) {
    return tl::unexpected(e.error());
  }
  auto a = Normalized(actual, "actual");
  if (!a) {
    return tl::unexpected(a.error());
  }
  NeumaierSum psi;
  for (std::size_t i = 0; i < e->size(); ++i) {
    const double ei = std::max((*e)[i], epsilon);
    const double ai = std::max((*a)[i], epsilon);
    psi.Add((ai - ei) * std::log(ai / ei));
  }
  return psi.Total();
}

Result<double> Quantile(std::span<const double> sorted, double q) {
  if (!(q >= 0.0 && q <= 1.0)) {
    return Invalid("q = " + std::to_string(q) + ": a quantile level must be in [0, 1]");
  }
  if (sorted.empty()) {
    return Invalid("sorted is empty: a quantile needs at least one value");
  }
  const double index = static_cast<double>(sorted.size() - 1) * q;
  const double below = std::floor(index);
  const double gamma = index - below;
  const auto lo = static_cast<std::size_t>(below);
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double a = sorted[lo];
  const double b = sorted[hi];
  const double diff = b - a;
  // numpy's lerp: from the nearer end, so that gamma = 1 gives b exactly.
  return gamma >= 0.5 ? b - diff * (1.0 - gamma) : a + diff * gamma;
}

Result<std::vector<double>> QuantileEdges(std::span<const double> sorted_reference,
                                          std::size_t bins) {
  if (bins == 0) {
    return Invalid("bins = 0: ask for at least one bin (10 is usual)");
  }
  if (auto ok = CheckSorted(sorted_reference, "sorted_reference"); !ok) {
    return tl::unexpected(ok.error());
  }
  std::vector<double> edges;
  edges.reserve(bins + 1);
  for (std::size_t k = 0; k <= bins; ++k) {
    const double level = static_cast<double>(k) / static_cast<double>(bins);
    edges.push_back(*Quantile(sorted_reference, level));
  }
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  return edges;
}

Result<std::vector<double>> BinProportions(std::span<const double> sorted_values,
                                           std::span<const double> edges) {
  if (edges.empty()) {
    return Invalid("edges is empty: pass the edges from QuantileEdges");
  }
  for (std::size_t k = 0; k < edges.size(); ++k) {
    if (!std::isfinite(edges[k]) || (k > 0 && !(edges[k] > edges[k - 1]))) {
      return Invalid("edges must be finite and strictly increasing (edges[" + std::to_string(k) +
                     "]): use QuantileEdges, which removes repeats");
    }
  }
  if (auto ok = CheckSorted(sorted_values, "sorted_values"); !ok) {
    return tl::unexpected(ok.error());
  }
  const double n = static_cast<double>(sorted_values.size());
  auto count_below = [&](double edge) {
    return static_cast<double>(std::lower_bound(sorted_values.begin(), sorted_values.end(), edge) -
                               sorted_values.begin());
  };
  if (edges.size() == 1) {
    const double c = edges[0];
    const double below = count_below(c);
    const double at_or_below = static_cast<double>(
        std::upper_bound(sorted_values.begin(), sorted_values.end(), c) - sorted_values.begin());
    return std::vector<double>{below / n, (at_or_below - below) / n, (n - at_or_below) / n};
  }
  std::vector<double> proportions;
  proportions.reserve(edges.size() - 1);
  double previous = 0.0;
  for (std::size_t k = 1; k + 1 < edges.size(); ++k) {
    const double below = count_below(edges[k]);
    proportions.push_back((below - previous) / n);
    previous = below;
  }
  proportions.push_back((n - previous) / n);
  return proportions;
}

Result<NumericSummary> Summarize(std::span<const double> values, std::size_t missing) {
  if (values.empty() && missing == 0) {
    return Invalid("values is empty and missing is 0: there is nothing to summarize");
  }
  NumericSummary s;
  s.count = values.size();
  s.missing = missing;
  s.missing_rate = static_cast<double>(missing) / static_cast<double>(values.size() + missing);
  if (values.empty()) {
    s.mean = s.std = s.min = s.p25 = s.p50 = s.p75 = s.max = kNaN;
    return s;
  }
  if (auto ok = CheckSample(values, "values", false); !ok) {
    return tl::unexpected(ok.error());
  }
  const SortedView sorted(values);
  const double n = static_cast<double>(sorted.size());
  s.min = sorted.front();
  s.max = sorted.back();
  if (s.min == s.max) {
    s.mean = s.min;
  } else {
    NeumaierSum total;
    for (double v : sorted) {
      total.Add(v);
    }
    s.mean = std::clamp(total.Total() / n, s.min, s.max);
  }
  if (sorted.size() < 2) {
    s.std = kNaN;
  } else if (s.min == s.max) {
    s.std = 0.0;
  } else {
    NeumaierSum squares;
    for (double v : sorted) {
      squares.Add((v - s.mean) * (v - s.mean));
    }
    s.std = std::sqrt(squares.Total() / (n - 1));
  }
  s.p25 = *Quantile(sorted, 0.25);
  s.p50 = *Quantile(sorted, 0.5);
  s.p75 = *Quantile(sorted, 0.75);
  return s;
}

}  // namespace stagegate::ml
