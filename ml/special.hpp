#pragma once

// Special functions behind the drift statistics in ml/stats.hpp: the regularized incomplete
// gamma function (chi-square tail) and the finite-n Kolmogorov-Smirnov distributions that
// scipy.stats.ks_2samp uses in its asymptotic mode. Pure functions of doubles; domain errors
// give NaN (the callers in stats.cpp validate their inputs first).

namespace stagegate::ml {

/// Regularized lower incomplete gamma P(a, x) = gamma(a, x) / Gamma(a), a > 0, x >= 0.
double RegularizedGammaP(double a, double x);

/// Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), computed directly (not as 1 - P)
/// in the tail, so it keeps ~1e-13 relative accuracy down to the smallest doubles. Method as in
/// Numerical Recipes §6.2 / Cephes igamc: power series for x < a + 1, Lentz continued fraction
/// otherwise, with the prefactor x^a e^-x / Gamma(a) written as
/// exp(-a (t - log1p t) - stirlerr(a)) sqrt(a / 2 pi), t = (x - a) / a, so that no large
/// logarithms cancel.
double RegularizedGammaQ(double a, double x);

/// Chi-square survival function, as scipy.stats.chi2.sf(x, dof) (= Q(dof/2, x/2)); 1 for x <= 0.
double ChiSquareSf(double dof, double x);

/// One-sided one-sample Kolmogorov-Smirnov survival function P(D+_n >= d), as
/// scipy.special.smirnov(n, d): the Smirnov / Birnbaum-Tingey sum, evaluated in log space
/// with long double; for n > 1e6 scipy switches to the approximation
/// exp(-(6 n d + 1)^2 / (18 n)), and so does this.
double SmirnovSf(long long n, double d);

/// Two-sided one-sample Kolmogorov-Smirnov survival function P(D_n >= d), as
/// scipy.stats.kstwo.sf(d, n) in scipy 1.10: Simard and L'Ecuyer's (2011) choice between the
/// Ruben-Gambino closed forms, 2 * Smirnov, the Durbin matrix (Marsaglia-Tsang-Wang) and the
/// Pelz-Good asymptotic series. Where scipy uses Pomeranz's recursion (n <= 140 and
/// 0.754693 < n d^2 <= 4) this uses the Durbin matrix, another exact method for the same
/// probability (agreement to ~1e-13 is checked by tests/ml/test_stats_exactness.py).
double KolmogorovTwoSidedSf(long long n, double d);

}  // namespace stagegate::ml
