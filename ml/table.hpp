#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/core/result.hpp"

namespace stagegate::ml {

/// How a column's values are stored.
enum class ColumnKind {
  kNumeric,      // doubles; NaN marks a missing value
  kCategorical,  // int32 codes into `categories` (sorted byte-wise); -1 marks a missing value
};

/// One column of a table, stored column-wise. Only the member for its kind is filled.
struct Column {
  std::string name;
  ColumnKind kind = ColumnKind::kNumeric;
  std::vector<double> numbers;          // kNumeric: one per row, NaN = missing
  std::vector<std::int32_t> codes;      // kCategorical: one per row, -1 = missing
  std::vector<std::string> categories;  // kCategorical: distinct values, sorted byte-wise
  std::size_t missing = 0;              // number of missing values
};

struct Table {
  std::size_t rows = 0;
  std::vector<Column> columns;  // in file order, or in the order `ReadOptions::columns` asked for

  /// The column called `name`, or nullptr.
  const Column* Find(std::string_view name) const;
};

enum class TableFormat {
  kAuto,       // from the extension: .csv, .tsv, .jsonl, .ndjson
  kCsv,        // delimited text with a header row (RFC 4180 quoting)
  kJsonLines,  // one JSON object per line
};

struct ReadOptions {
  TableFormat format = TableFormat::kAuto;
  /// CSV field delimiter; 0 = from the extension (tab for .tsv, comma otherwise).
  char delimiter = 0;
  /// Columns to keep, in this order; empty = all. The others are parsed but not stored.
  std::vector<std::string> columns;
  /// Kinds forced for some columns instead of inferred.
  std::map<std::string, ColumnKind> kinds;
  /// Texts that mean "missing" (compared exactly, case-sensitive).
  std::vector<std::string> missing_values = {"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"};
  /// A CSV file without quotes, blank lines or lone carriage returns is split at line
  /// boundaries and parsed by this many threads at once (0 = one per core). Any other file,
  /// and any file whose pieces disagree (a column numeric in one piece and text in another,
  /// or a malformed row), is read by one thread from the start, so results and error
  /// messages never depend on the split.
  unsigned threads = 0;
  /// The smallest piece a thread is given; tests lower it to split small files.
  std::size_t min_chunk_bytes = std::size_t{4} << 20U;
  /// False reads every CSV file with the one-thread reader (tests compare both).
  bool plain_fast_path = true;
};

/// The shortest text that reads back as `value` (std::to_chars): how a JSON number is named
/// in a categorical column, and how the ML actions show numbers in messages.
std::string NumberText(double value);

/// Reads a CSV/TSV or JSON Lines file into memory, column by column, streaming it in blocks
/// and keeping only the selected columns (memory ~ rows × (8 bytes per numeric column +
/// 4 bytes per categorical column) + the distinct categories).
///
/// Kind inference: a column is numeric when every non-missing value is a JSON number or a
/// text that std::from_chars parses completely as a double (no surrounding spaces, no
/// leading '+'); otherwise categorical, with JSON booleans as the categories "true" and
/// "false" and JSON numbers as their shortest round-trip text. A text that parses to NaN
/// counts as missing. A column with no values at all is numeric (all NaN).
///
/// CSV: the first record is the header; fields may be quoted with '"', a quote inside a
/// quoted field is written "", quoted fields may hold delimiters and line breaks; a quote
/// inside an unquoted field is kept literally. Line ends may be LF or CRLF; a UTF-8 byte
/// order mark is skipped. In a file of several columns, blank lines at the end are ignored
/// and a blank line followed by more data is an error; in a one-column file a blank line is
/// an empty value (missing).
///
/// JSON Lines: the columns are the keys of the first object, in order. A later object
/// without one of them has a missing value there; a key the first object does not have is
/// an error. Values must be numbers, strings, booleans or null.
///
/// Plain CSV files (see ReadOptions::threads) are parsed in parallel pieces and the pieces
/// joined; the result is the same table the one-thread reader builds.
///
/// Every failure is kInvalidArgument and names the file, the row and line, and the column.
Result<Table> ReadTable(const std::string& path, const ReadOptions& options = {});

}  // namespace stagegate::ml
