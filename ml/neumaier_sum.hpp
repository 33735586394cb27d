#pragma once
// Compensated summation shared by the statistics and metrics of this folder.

#include <cmath>

namespace stagegate::ml {

/// Neumaier's compensated sum: the rounding error of each addition is kept aside and added
/// back at the end, so a long sum of mixed-size terms stays within a few ulps of the exact
/// value (means over 10^6 samples well inside 1e-9).
class NeumaierSum final {
 public:
  void Add(double x) {
    const double t = sum_ + x;
    if (std::fabs(sum_) >= std::fabs(x)) {
      compensation_ += (sum_ - t) + x;
    } else {
      compensation_ += (x - t) + sum_;
    }
    sum_ = t;
  }
  double Total() const { return sum_ + compensation_; }

 private:
  double sum_ = 0.0;
  double compensation_ = 0.0;
};

}  // namespace stagegate::ml
