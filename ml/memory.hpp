#pragma once

#include <cstddef>
#include <vector>

namespace stagegate::ml {

/// Asks the kernel to back the whole 2 MiB pages inside [data, data + bytes) with huge pages
/// (transparent huge pages in "madvise" mode, Debian's default). The ML actions fill vectors
/// of tens of millions of values once; with 4 KiB pages the first touch of each page costs a
/// fault, and on a virtual machine those faults took longer than parsing the numbers
/// (bench/ml_bench.py). Small ranges and refusals are ignored: it is only advice.
void AdviseHugePages(const void* data, std::size_t bytes);

/// `values.reserve(count)`, advising huge pages for the new storage before anything touches it.
template <class T>
void ReserveLarge(std::vector<T>& values, std::size_t count) {
  if (count <= values.capacity()) return;
  values.reserve(count);
  AdviseHugePages(values.data(), values.capacity() * sizeof(T));
}

/// A vector of `count` value-initialized elements whose storage was advised first.
template <class T>
std::vector<T> LargeVector(std::size_t count) {
  std::vector<T> values;
  ReserveLarge(values, count);
  values.resize(count);
  return values;
}

}  // namespace stagegate::ml
