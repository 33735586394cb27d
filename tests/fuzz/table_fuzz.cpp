// Arbitrary bytes as a data file for the ML actions (CSV, TSV or JSON Lines; the first byte
// picks the format and how a CSV file is split) and as a drift column config. Every input
// gives a table or an error naming the file, never a crash; and a CSV file read in parallel
// pieces gives exactly the table, or the error, of the one-thread reader.
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "ml/drift.hpp"
#include "ml/table.hpp"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool SameTable(const stagegate::ml::Table& a, const stagegate::ml::Table& b) {
  if (a.rows != b.rows || a.columns.size() != b.columns.size()) return false;
  for (std::size_t j = 0; j < a.columns.size(); ++j) {
    const auto& x = a.columns[j];
    const auto& y = b.columns[j];
    if (x.name != y.name || x.kind != y.kind || x.missing != y.missing ||
        x.categories != y.categories || x.codes != y.codes || x.numbers.size() != y.numbers.size()) {
      return false;
    }
    for (std::size_t i = 0; i < x.numbers.size(); ++i) {
      if (std::isnan(x.numbers[i]) ? !std::isnan(y.numbers[i]) : x.numbers[i] != y.numbers[i]) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stagegate::ml;
  if (size < 2) return 0;
  const unsigned mode = data[0] % 4U;
  const std::size_t chunk = 1 + data[1] % 64U;
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  static const std::string dir = [] {
    char path[] = "/tmp/sg_table_fuzz_XXXXXX";
    const char* made = ::mkdtemp(path);
    if (made == nullptr) std::abort();
    return std::string(made);
  }();
  static const char* const kExtensions[] = {".csv", ".tsv", ".csv", ".jsonl"};
  const std::string path = dir + "/input" + kExtensions[mode];
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(body.data(), static_cast<std::streamsize>(body.size()));

  ReadOptions one_thread;
  one_thread.plain_fast_path = false;
  if (mode == 2) one_thread.delimiter = ';';
  ReadOptions pieces = one_thread;
  pieces.plain_fast_path = true;
  pieces.threads = 3;
  pieces.min_chunk_bytes = chunk;

  const auto expected = ReadTable(path, one_thread);
  Check(expected.has_value() || expected.error().message.rfind(path, 0) == 0);
  const auto split = ReadTable(path, pieces);
  Check(expected.has_value() == split.has_value());
  if (expected && split) {
    Check(SameTable(*expected, *split));
  } else if (!expected && !split) {
    Check(expected.error().message == split.error().message);
  }

  // The same bytes as a drift config file: a config or an error naming it, never a crash.
  const std::string config_path = dir + "/config.yaml";
  std::ofstream(config_path, std::ios::binary | std::ios::trunc)
      .write(body.data(), static_cast<std::streamsize>(body.size()));
  const auto config = ParseDriftConfig(config_path);
  Check(config.has_value() || !config.error().message.empty());
  return 0;
}
