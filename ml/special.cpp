#include "ml/special.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

namespace stagegate::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr int kMaxIterations = 1'000'000;

// log1p(t) - t without cancellation for small |t| (series -t^2/2 + t^3/3 - ...).
double Log1pMinusX(double t) {
  if (std::fabs(t) > 0.25) {
    return std::log1p(t) - t;
  }
  double power = t;  // (-1)^(k+1) t^k after the update at step k
  double sum = 0.0;
  for (int k = 2; k < 200; ++k) {
    power *= -t;
    const double term = power / k;
    sum += term;
    if (std::fabs(term) <= std::fabs(sum) * kEps * 0.25) {
      break;
    }
  }
  return sum;
}

// stirlerr(a) = lgamma(a) - ((a - 1/2) log a - a + log(2 pi) / 2): the remainder of
// Stirling's formula. Asymptotic series for large a (coefficients B_2k / (2k (2k - 1))),
// direct subtraction for small a, where the terms are small and nothing cancels badly.
double StirlingError(double a) {
  if (a >= 15.0) {
    const double r = 1.0 / a;
    const double r2 = r * r;
    return r * (1.0 / 12 -
                r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 - r2 * (1.0 / 1188)))));
  }
  return std::lgamma(a) - ((a - 0.5) * std::log(a) - a + 0.5 * std::log(2 * std::numbers::pi));
}

// x^a e^-x / Gamma(a), accurate for large a and x close to a (see the header).
double GammaPrefactor(double a, double x) {
  // a log(x/a) - (x - a); the series form only where x is close to a, since forming
  // t = (x - a) / a would lose the relative accuracy of x / a when x << a.
  const double gap = x - a;
  const double log_ratio_term =
      std::fabs(gap) > 0.25 * a ? a * std::log(x / a) - gap : a * Log1pMinusX(gap / a);
  const double log_value = log_ratio_term - StirlingError(a);
  return std::exp(log_value) * std::sqrt(a / (2 * std::numbers::pi));
}

// P(a, x) by its power series: prefactor / a * sum_k x^k / ((a+1)...(a+k)).
double GammaPSeries(double a, double x) {
  double term = 1.0;
  double sum = 1.0;
  for (int k = 1; k < kMaxIterations; ++k) {
    term *= x / (a + k);
    sum += term;
    if (term <= sum * kEps * 0.5) {
      break;
    }
  }
  return GammaPrefactor(a, x) / a * sum;
}

// Q(a, x) by the continued fraction 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...))), evaluated
// with the modified Lentz method (Numerical Recipes §5.2, §6.2).
double GammaQContinuedFraction(double a, double x) {
  constexpr double kTiny = 1e-300;
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i < kMaxIterations; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < kTiny) {
      d = kTiny;
    }
    c = b + an / c;
    if (std::fabs(c) < kTiny) {
      c = kTiny;
    }
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) <= kEps) {
      break;
    }
  }
  return GammaPrefactor(a, x) * h;
}

// ---- Kolmogorov-Smirnov, one-sample, finite n ------------------------------------------

// log(n! / n^n) by Stirling's series with n log n removed first (no cancellation), as in
// scipy.stats._ksstats; the coefficients are B_2j / (2j (2j-1)), j = 8..1.
double LogFactorialOverPower(double n) {
  static constexpr double kStirling[] = {-2.955065359477124183e-2,  6.4102564102564102564e-3,
                                         -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                                         -5.952380952380952381e-4,  7.9365079365079365079e-4,
                                         -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / n;
  const double y = rn / n;
  double poly = 0.0;
  for (double c : kStirling) {
    poly = poly * y + c;
  }
  return std::log(n) / 2 - n + std::log(2 * std::numbers::pi) / 2 + rn * poly;
}

using Matrix = std::vector<double>;  // row-major, size m * m

Matrix MatMul(const Matrix& a, const Matrix& b, int m) {
  Matrix c(static_cast<std::size_t>(m) * m, 0.0);
  for (int i = 0; i < m; ++i) {
    for (int k = 0; k < m; ++k) {
      const double aik = a[i * m + k];
      if (aik == 0.0) {
        continue;
      }
      for (int j = 0; j < m; ++j) {
        c[i * m + j] += aik * b[k * m + j];
      }
    }
  }
  return c;
}

// Rescales `a` by a power of two when its entries grow large; adds the exponent to `exponent`.
void Rescale(Matrix& a, long long& exponent) {
  double largest = 0.0;
  for (double v : a) {
    largest = std::max(largest, std::fabs(v));
  }
  if (largest > 0x1p128) {
    for (double& v : a) {
      v = std::ldexp(v, -128);
    }
    exponent += 128;
  }
}

// P(D_n <= d) by Durbin's matrix formula, evaluated as in Marsaglia, Tsang and Wang (2003),
// "Evaluating Kolmogorov's distribution", J. Stat. Software 8(18): with d = (k - h) / n,
// the probability is n!/n^n times the (k, k) entry of H^n for a (2k-1)^2 matrix H.
double DurbinMatrixCdf(long long n, double d) {
  if (d >= 1.0) {
    return 1.0;
  }
  const double nd = static_cast<double>(n) * d;
  if (nd <= 0.5) {
    return 0.0;
  }
  const int k = static_cast<int>(std::ceil(nd));
  const double h = k - nd;
  const int m = 2 * k - 1;
  std::vector<double> inv_factorial(m + 1);  // 1/j!, j = 0..m
  inv_factorial[0] = 1.0;
  for (int j = 1; j <= m; ++j) {
    inv_factorial[j] = inv_factorial[j - 1] / j;
  }
  Matrix hm(static_cast<std::size_t>(m) * m, 0.0);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < m; ++j) {
      if (i - j + 1 >= 0) {
        hm[i * m + j] = inv_factorial[i - j + 1];
      }
    }
  }
  // First column and last row lose the h-corners; the bottom-left entry gets
  // (1 - 2h^m + max(0, 2h - 1)^m) / m!.
  for (int i = 0; i < m; ++i) {
    const double corner = (1.0 - std::pow(h, i + 1)) * inv_factorial[i + 1];
    hm[i * m + 0] = corner;
    hm[(m - 1) * m + (m - 1 - i)] = corner;
  }
  const double overlap = std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(h, m);
  hm[(m - 1) * m + 0] = (1.0 + overlap) * inv_factorial[m];

  Matrix power(static_cast<std::size_t>(m) * m, 0.0);
  for (int i = 0; i < m; ++i) {
    power[i * m + i] = 1.0;
  }
  long long power_exponent = 0;
  long long base_exponent = 0;
  for (long long e = n; e > 0; e /= 2) {
    if (e % 2 != 0) {
      power = MatMul(power, hm, m);
      power_exponent += base_exponent;
      Rescale(power, power_exponent);
    }
    if (e / 2 > 0) {
      hm = MatMul(hm, hm, m);
      base_exponent *= 2;
      Rescale(hm, base_exponent);
    }
  }
  double p = power[(k - 1) * m + (k - 1)];
  long long exponent = power_exponent;
  const double dn = static_cast<double>(n);
  for (long long i = 1; i <= n; ++i) {  // times n! / n^n, keeping p in range
    p = static_cast<double>(i) * p / dn;
    if (std::fabs(p) < 0x1p-128) {
      p = std::ldexp(p, 128);
      exponent -= 128;
    }
  }
  const long long clamped = std::clamp<long long>(exponent, -4000, 4000);
  return std::clamp(std::ldexp(p, static_cast<int>(clamped)), 0.0, 1.0);
}

// Pelz and Good (1976) asymptotic series for P(D_n <= x), for small x, as the
// Li-Chien / Korolyuk expansion K0 + K1/sqrt(n) + K2/n + K3/n^1.5 rewritten with Jacobi theta
// identities. The truncation and term order follow scipy.stats._ksstats so that the
// approximation (not only the limit) is the same.
double PelzGoodCdf(double n, double x) {
  if (x <= 0.0) {
    return 0.0;
  }
  if (x >= 1.0) {
    return 1.0;
  }
  constexpr double kPi = std::numbers::pi;
  const double pi2 = kPi * kPi;
  const double pi4 = pi2 * pi2;
  const double pi6 = pi4 * pi2;
  const double z = std::sqrt(n) * x;
  const double z2 = z * z;
  const double z3 = z2 * z;
  const double z4 = z2 * z2;
  const double z6 = z4 * z2;
  const double qlog = -pi2 / 8 / z2;
  if (qlog < -708) {
    return 0.0;
  }
  double q = std::exp(qlog);
  const double k1a = -z2;
  const double k1b = pi2 / 4;
  const double k2a = 6 * z6 + 2 * z4;
  const double k2b = (2 * z4 - 5 * z2) * pi2 / 4;
  const double k2c = pi4 * (1 - 2 * z2) / 16;
  const double k3d = pi6 * (5 - 30 * z2) / 64;
  const double k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
  const double k3b = pi2 * (135 * z4 - 96 * z6) / 4;
  const double k3a = -30 * z6 - 90 * std::pow(z, 8);

  double k[4] = {0, 0, 0, 0};
  // Sums over odd m = 2j - 1 of c(m) q^(m^2), by Horner in q^(8j).
  const int max_k = static_cast<int>(std::ceil(16 * z / kPi));
  for (int j = max_k; j > 0; --j) {
    const double mm = 2.0 * j - 1;
    const double m2 = mm * mm;
    const double m4 = m2 * m2;
    const double m6 = m4 * m2;
    const double q_power = std::pow(q, 8 * j);
    const double coeffs[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                              k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (int i = 0; i < 4; ++i) {
      k[i] = k[i] * q_power + coeffs[i];
    }
  }
  const double sqrt2pi = std::sqrt(2 * kPi);
  const double divisors[4] = {z, 6 * z4, 72 * std::pow(z, 7), 6480 * std::pow(z, 10)};
  for (int i = 0; i < 4; ++i) {
    k[i] = k[i] * q * sqrt2pi / divisors[i];
  }
  // The extra terms of K2 and K3 over all integers j: (pi^2 j^2) q'^(j^2) and
  // (3 z^2 - pi^2 j^2) pi^2 j^2 q'^(j^2), q' = exp(-pi^2 / (2 z^2)).
  q = std::exp(-pi2 / 2 / z2);
  double k2_extra = 0.0;
  double k3_extra = 0.0;
  const double sqrt3z = std::sqrt(3.0) * z;
  for (int j = max_k; j > 0; --j) {
    const double j2 = static_cast<double>(j) * j;
    const double qp = std::pow(q, j2);
    const double jpi = kPi * j;
    k2_extra += j2 * qp;
    k3_extra += (sqrt3z + jpi) * (sqrt3z - jpi) * j2 * qp;
  }
  k[2] += k2_extra * (pi2 * sqrt2pi / (-36 * z3));
  k[3] += k3_extra * (pi2 * sqrt2pi / (216 * z6));
  const double sqrt_n = std::sqrt(n);
  return k[0] + k[1] / sqrt_n + k[2] / n + k[3] / (n * sqrt_n);
}

}  // namespace

double RegularizedGammaP(double a, double x) {
  if (std::isnan(a) || std::isnan(x) || a <= 0.0 || x < 0.0) {
    return kNaN;
  }
  if (x == 0.0) {
    return 0.0;
  }
  if (std::isinf(x)) {
    return 1.0;
  }
  if (x < a + 1.0) {
    return GammaPSeries(a, x);
  }
  return 1.0 - GammaQContinuedFraction(a, x);
}

double RegularizedGammaQ(double a, double x) {
  if (std::isnan(a) || std::isnan(x) || a <= 0.0 || x < 0.0) {
    return kNaN;
  }
  if (x == 0.0) {
    return 1.0;
  }
  if (std::isinf(x)) {
    return 0.0;
  }
  if (x < a + 1.0) {
    return 1.0 - GammaPSeries(a, x);
  }
  return GammaQContinuedFraction(a, x);
}

double ChiSquareSf(double dof, double x) {
  if (std::isnan(dof) || std::isnan(x) || dof <= 0.0) {
    return kNaN;
  }
  if (x <= 0.0) {
    return 1.0;
  }
  return RegularizedGammaQ(dof / 2.0, x / 2.0);
}

double SmirnovSf(long long n, double d) {
  if (n <= 0 || std::isnan(d) || d < 0.0 || d > 1.0) {
    return kNaN;
  }
  if (n == 1) {
    return 1.0 - d;
  }
  if (d == 0.0) {
    return 1.0;
  }
  if (d == 1.0) {
    return 0.0;
  }
  const double dn = static_cast<double>(n);
  // floor(n d) from the exact product n*d = hi + lo.
  const double nd_hi = dn * d;
  const double nd_lo = std::fma(dn, d, -nd_hi);
  double nd_floor = std::floor(nd_hi);
  if (nd_floor == nd_hi && nd_lo < 0) {
    nd_floor -= 1.0;
  }
  const auto nd_int = static_cast<long long>(nd_floor);
  if (nd_int == 0 || (nd_int == 1 && nd_hi == 1.0 && nd_lo == 0.0)) {
    // d <= 1/n: P(D+ < d) = d (1 + d)^(n-1).
    const double cdf = d * std::exp((dn - 1) * std::log1p(d));
    return 1.0 - cdf;
  }
  if (-2 * dn * d * d < -7.08396418532264106224e2) {  // below the smallest normal double
    return 0.0;
  }
  if (nd_int >= n - 1) {  // d >= 1 - 1/n: (1 - d)^n
    return std::exp(dn * std::log1p(-d));
  }
  if (n > 1'000'000) {
    // scipy's large-n approximation (van Mulbregt, arXiv:1802.06966).
    return std::exp(-std::pow(6 * dn * d + 1.0, 2) / 18.0 / dn);
  }
  // sf = d * sum_{v=0}^{n - floor(n d) - 1} C(n, v) (d + v/n)^(v-1) (1 - d - v/n)^(n-v).
  // Every term is positive, so the sum is accurate; terms are formed in log space in long
  // double so that binomials far beyond the double range cost nothing. The terms rise to one
  // mode and fall again, and for large n all but a few thousand around the mode are below
  // 1e-20 of the sum: the sum starts at the mode (found by ternary search on the log term)
  // and walks outwards in both directions until the rest cannot matter.
  const long long last = n - nd_int - 1;
  const long double ln_nfact = lgammal(static_cast<long double>(n) + 1);
  const long double ld_n = static_cast<long double>(n);
  // log of term v; -inf where 1 - d - v/n <= 0 (the term is 0).
  const auto log_term = [&](long long v) {
    const long double ld_v = static_cast<long double>(v);
    // 1 - d - v/n = ((n - v) - n d) / n with n d = nd_hi + nd_lo.
    const long double rest = ((ld_n - ld_v) - nd_hi - nd_lo) / ld_n;
    if (rest <= 0.0L) {
      return -std::numeric_limits<long double>::infinity();
    }
    const long double level = (ld_v + nd_hi + nd_lo) / ld_n;  // d + v/n
    return ln_nfact - lgammal(ld_v + 1) - lgammal(ld_n - ld_v + 1) + (ld_v - 1) * logl(level) +
           (ld_n - ld_v) * log1pl(-level);
  };
  long long lo = 0;
  long long hi = last;
  while (hi - lo > 2) {
    const long long m1 = lo + (hi - lo) / 3;
    const long long m2 = hi - (hi - lo) / 3;
    if (log_term(m1) < log_term(m2)) {
      lo = m1 + 1;
    } else {
      hi = m2 - 1;
    }
  }
  long long mode = lo;
  for (long long v = lo + 1; v <= hi; ++v) {
    if (log_term(v) > log_term(mode)) {
      mode = v;
    }
  }
  const long double peak = log_term(mode);
  long double sum = 0.0L;
  // Past the mode the terms fall, so `remaining * term` bounds what is left of a side.
  for (long long v = mode; v <= last; ++v) {
    const long double term = expl(log_term(v) - peak);
    sum += term;
    if (v > mode && 4.0L * static_cast<long double>(last - v) * term < 1e-20L * sum) {
      break;
    }
  }
  for (long long v = mode - 1; v >= 0; --v) {
    const long double term = expl(log_term(v) - peak);
    sum += term;
    if (4.0L * static_cast<long double>(v) * term < 1e-20L * sum) {
      break;
    }
  }
  sum *= expl(peak);
  return std::clamp(static_cast<double>(static_cast<long double>(d) * sum), 0.0, 1.0);
}

double KolmogorovTwoSidedSf(long long n, double d) {
  if (n <= 0 || std::isnan(d)) {
    return kNaN;
  }
  const double dn = static_cast<double>(n);
  // scipy.stats.kstwo's support is [0.5/n, 1].
  if (d >= 1.0) {
    return 0.0;
  }
  if (d <= 0.5 / dn) {
    return 1.0;
  }
  const double t = dn * d;
  if (t <= 1.0) {
    // Ruben-Gambino: P(D_n <= d) = n!/n^n (2t - 1)^n for 1/(2n) <= d <= 1/n.
    double cdf = 1.0;
    if (n <= 140) {
      for (long long i = 1; i <= n; ++i) {
        cdf *= static_cast<double>(i) * (1.0 / dn) * (2 * t - 1);
      }
    } else {
      cdf = std::exp(LogFactorialOverPower(dn) + dn * std::log(2 * t - 1));
    }
    return std::clamp(1.0 - cdf, 0.0, 1.0);
  }
  if (t >= dn - 1) {  // Ruben-Gambino upper end
    return std::clamp(2 * std::pow(1.0 - d, dn), 0.0, 1.0);
  }
  if (d >= 0.5) {  // the two one-sided events are disjoint
    return std::clamp(2 * SmirnovSf(n, d), 0.0, 1.0);
  }
  const double nd2 = t * d;
  if (n <= 140) {
    if (nd2 <= 4) {
      return std::clamp(1.0 - DurbinMatrixCdf(n, d), 0.0, 1.0);
    }
    return std::clamp(2 * SmirnovSf(n, d), 0.0, 1.0);  // Miller's approximation
  }
  if (nd2 >= 370.0) {
    return 0.0;
  }
  if (nd2 >= 2.2) {
    return std::clamp(2 * SmirnovSf(n, d), 0.0, 1.0);
  }
  double cdf = 0.0;
  if (n <= 100000 && dn * std::pow(d, 1.5) <= 1.4) {
    cdf = DurbinMatrixCdf(n, d);
  } else {
    cdf = PelzGoodCdf(dn, d);
  }
  return std::clamp(1.0 - cdf, 0.0, 1.0);
}

}  // namespace stagegate::ml
