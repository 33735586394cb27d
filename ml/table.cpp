#include "ml/table.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <unordered_map>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "ml/memory.hpp"
#include "ml/parallel.hpp"
#include "orchestrator/core/headers.hpp"
#include "orchestrator/core/suggest.hpp"

namespace stagegate::ml {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::size_t kBlockBytes = std::size_t{1} << 20U;  // read 1 MiB at a time
constexpr std::size_t kRowsBeforeEstimate = 1024;           // then reserve for the whole file
constexpr std::size_t kMaxNamesListed = 40;                 // in "the columns are ..." hints

tl::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// "a, b, c" (at most kMaxNamesListed names, then "... and N more").
std::string ListNames(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < kMaxNamesListed; ++i) {
    if (i > 0) out += ", ";
    out += Quoted(names[i]);
  }
  if (names.size() > kMaxNamesListed) {
    out += ", ... and " + std::to_string(names.size() - kMaxNamesListed) + " more";
  }
  return out;
}

// The cell of one selected column in one record, before it is typed.
enum class CellType { kText, kNumber, kBool, kNull, kAbsent };
struct Cell {
  CellType type = CellType::kAbsent;
  std::string_view text;  // kText
  double number = 0;      // kNumber
  bool boolean = false;   // kBool
};

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// A file read in blocks, with the UTF-8 byte order mark skipped. Both readers scan `data()`
// between `pos` and `end` directly and call Fill() when they reach the end.
class Blocks final {
 public:
  Blocks(FilePtr file, std::string path) : file_(std::move(file)), path_(std::move(path)) {
    // A small regular file needs no more than its size (tests and fuzzing open many).
    struct stat info {};
    std::size_t size = kBlockBytes;
    if (::fstat(::fileno(file_.get()), &info) == 0 && S_ISREG(info.st_mode)) {
      size = std::clamp<std::size_t>(static_cast<std::size_t>(info.st_size) + 1, 4096, kBlockBytes);
    }
    buffer_.resize(size);
  }

  /// Reads the next block; true when there is at least one byte to scan, false at the end of
  /// the file.
  Result<bool> Fill() {
    while (pos == end) {
      consumed_ += end;
      pos = 0;
      end = std::fread(buffer_.data(), 1, buffer_.size(), file_.get());
      if (end == 0) {
        if (std::ferror(file_.get()) != 0) {
          return Invalid(path_ + ": cannot read the file: " + std::strerror(errno));
        }
        return false;
      }
      if (first_) {
        first_ = false;
        if (end >= 3 && std::memcmp(buffer_.data(), "\xEF\xBB\xBF", 3) == 0) pos = 3;
      }
    }
    return true;
  }

  const char* data() const { return buffer_.data(); }
  /// Bytes of the file before `pos`.
  std::uint64_t Offset() const { return consumed_ + pos; }

  std::size_t pos = 0;
  std::size_t end = 0;

 private:
  FilePtr file_;
  std::string path_;
  std::vector<char> buffer_;
  std::uint64_t consumed_ = 0;
  bool first_ = true;
};

// Reads records one at a time. Errors name the file, row, line and column.
class RecordReader {
 public:
  virtual ~RecordReader() = default;
  /// The column names; called once, first.
  virtual Result<std::vector<std::string>> ReadHeader() = 0;
  /// The next data record: `cells[j]` for column `wanted[j]`. False at the end of the file.
  virtual Result<bool> Next(const std::vector<std::size_t>& wanted, std::vector<Cell>& cells) = 0;

  /// "path: row R (line L)" for the record Next() returned last.
  std::string Where() const {
    return path_ + ": row " + std::to_string(row_) + " (line " + std::to_string(record_line_) + ")";
  }
  std::uint64_t Offset() const { return blocks_.Offset(); }

 protected:
  RecordReader(FilePtr file, std::string path) : path_(path), blocks_(std::move(file), path) {}

  std::string path_;
  Blocks blocks_;
  std::vector<std::string> header_;
  std::size_t row_ = 0;          // 1-based data row of the last record
  std::size_t record_line_ = 0;  // line where the last record starts
  std::size_t line_ = 1;         // line of the read position
  std::size_t blank_line_ = 0;   // first of a run of blank lines not yet followed by data
};

class CsvReader final : public RecordReader {
 public:
  CsvReader(FilePtr file, std::string path, char delimiter)
      : RecordReader(std::move(file), std::move(path)), delimiter_(delimiter) {}

  Result<std::vector<std::string>> ReadHeader() override {
    auto more = ReadRecord();
    if (!more) return tl::unexpected(more.error());
    if (!*more) return Invalid(path_ + ": the file is empty; expected a header row");
    if (IsBlank()) {
      return Invalid(path_ + ": line 1 is blank; expected a header row with the column names");
    }
    std::vector<std::string> names;
    names.reserve(ends_.size());
    for (std::size_t i = 0; i < ends_.size(); ++i) names.emplace_back(Field(i));
    header_ = names;
    return names;
  }

  Result<bool> Next(const std::vector<std::size_t>& wanted, std::vector<Cell>& cells) override {
    for (;;) {
      auto more = ReadRecord();
      if (!more) return tl::unexpected(more.error());
      if (!*more) return false;  // blank lines at the very end are not data
      if (IsBlank() && header_.size() > 1) {
        if (blank_line_ == 0) blank_line_ = record_line_;
        continue;
      }
      ++row_;
      if (blank_line_ != 0) {
        return Invalid(path_ + ": line " + std::to_string(blank_line_) +
                       " is blank but data follows on line " + std::to_string(record_line_) +
                       " (row " + std::to_string(row_) + "); remove the blank line");
      }
      if (ends_.size() != header_.size()) return WrongFieldCount();
      cells.resize(wanted.size());
      for (std::size_t j = 0; j < wanted.size(); ++j) {
        cells[j] = Cell{.type = CellType::kText, .text = Field(wanted[j])};
      }
      return true;
    }
  }

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };

  bool IsBlank() const { return ends_.size() == 1 && ends_[0] == 0 && !quoted_; }

  std::string_view Field(std::size_t i) const {
    const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(record_).substr(begin, ends_[i] - begin);
  }

  // The name of field `index` for messages: its header name, or its position in the header.
  std::string FieldName(std::size_t index) const {
    if (index < header_.size()) return "column " + Quoted(header_[index]);
    return "field " + std::to_string(index + 1);
  }

  std::string Here() const {
    if (header_.empty()) return path_ + ": header (line " + std::to_string(record_line_) + ")";
    return path_ + ": row " + std::to_string(row_ + 1) + " (line " + std::to_string(record_line_) +
           ")";
  }

  tl::unexpected<Error> WrongFieldCount() const {
    std::string message = Where() + " has " + std::to_string(ends_.size()) + " field" +
                          (ends_.size() == 1 ? "" : "s") + " but the header has " +
                          std::to_string(header_.size()) + " columns (" + ListNames(header_) +
                          "): ";
    if (ends_.size() < header_.size()) {
      message += "column " + Quoted(header_[ends_.size()]) + " has no value";
    } else {
      message += "field " + std::to_string(header_.size() + 1) + " (" +
                 Quoted(Field(header_.size())) +
                 ") has no column; quote values that contain the delimiter";
    }
    return Invalid(std::move(message));
  }

  // Reads one record into record_/ends_. False at the end of the file with nothing read.
  Result<bool> ReadRecord() {
    record_.clear();
    ends_.clear();
    quoted_ = false;
    record_line_ = line_;
    State state = State::kFieldStart;
    std::size_t quote_line = 0;
    for (;;) {
      if (blocks_.pos == blocks_.end) {
        auto more = blocks_.Fill();
        if (!more) return tl::unexpected(more.error());
        if (!*more) break;
      }
      const char* data = blocks_.data();
      std::size_t& pos = blocks_.pos;
      const std::size_t end = blocks_.end;
      if (skip_lf_) {  // the LF of a CRLF that ended the previous record
        skip_lf_ = false;
        if (data[pos] == '\n') {
          ++pos;
          continue;
        }
      }
      switch (state) {
        case State::kFieldStart:
          if (data[pos] == '"') {
            ++pos;
            state = State::kQuoted;
            quoted_ = true;
            quote_line = line_;
            break;
          }
          state = State::kUnquoted;
          [[fallthrough]];
        case State::kUnquoted: {
          std::size_t p = pos;
          while (p < end && data[p] != delimiter_ && data[p] != '\n' && data[p] != '\r') ++p;
          record_.append(data + pos, p - pos);
          pos = p;
          if (p == end) break;
          const char c = data[pos++];
          ends_.push_back(record_.size());
          if (c == delimiter_) {
            state = State::kFieldStart;
            break;
          }
          ++line_;
          skip_lf_ = c == '\r';
          return true;
        }
        case State::kQuoted: {
          std::size_t p = pos;
          while (p < end && data[p] != '"' && data[p] != '\n') ++p;
          record_.append(data + pos, p - pos);
          pos = p;
          if (p == end) break;
          if (data[pos++] == '\n') {
            record_.push_back('\n');
            ++line_;
          } else {
            state = State::kQuoteInQuoted;
          }
          break;
        }
        case State::kQuoteInQuoted: {
          const char c = data[pos++];
          if (c == '"') {  // "" inside a quoted field is one quote
            record_.push_back('"');
            state = State::kQuoted;
            break;
          }
          if (c == delimiter_) {
            ends_.push_back(record_.size());
            state = State::kFieldStart;
            break;
          }
          if (c == '\n' || c == '\r') {
            ends_.push_back(record_.size());
            ++line_;
            skip_lf_ = c == '\r';
            return true;
          }
          return Invalid(Here() + ", " + FieldName(ends_.size()) + ": unexpected character " +
                         Quoted(std::string(1, c)) +
                         " after a closing quote; a quoted field must end at the delimiter or "
                         "the end of the line (write a quote inside a quoted field as \"\")");
        }
      }
    }
    // End of the file.
    if (state == State::kQuoted) {
      return Invalid(Here() + ", " + FieldName(ends_.size()) +
                     ": unterminated quoted field (the quote opens on line " +
                     std::to_string(quote_line) +
                     " and is never closed); close it with '\"' or escape quotes as \"\"");
    }
    if (state == State::kFieldStart && ends_.empty()) return false;
    ends_.push_back(record_.size());
    return true;
  }

  char delimiter_;
  std::string record_;             // the fields of the current record, unescaped, back to back
  std::vector<std::size_t> ends_;  // end offset of each field in record_
  bool quoted_ = false;            // whether the record had a quoted field
  bool skip_lf_ = false;
};

class JsonLinesReader final : public RecordReader {
 public:
  JsonLinesReader(FilePtr file, std::string path)
      : RecordReader(std::move(file), std::move(path)) {}

  Result<std::vector<std::string>> ReadHeader() override {
    auto more = ReadLine();
    if (!more) return tl::unexpected(more.error());
    if (!*more) return Invalid(path_ + ": the file is empty; expected one JSON object per line");
    if (IsBlank()) return Invalid(path_ + ": line 1 is blank; expected a JSON object");
    row_ = 1;
    auto parsed = ParseObject();
    if (!parsed) return tl::unexpected(parsed.error());
    if (object_.empty()) {
      return Invalid(Where() + ": the first object is empty, so the file has no columns");
    }
    for (const auto& [key, value] : object_.items()) {
      index_.emplace(key, header_.size());
      header_.push_back(key);
    }
    row_ = 0;
    first_pending_ = true;
    return header_;
  }

  Result<bool> Next(const std::vector<std::size_t>& wanted, std::vector<Cell>& cells) override {
    if (first_pending_) {
      first_pending_ = false;
      row_ = 1;
    } else {
      for (;;) {
        auto more = ReadLine();
        if (!more) return tl::unexpected(more.error());
        if (!*more) return false;  // blank lines at the very end are not data
        if (!IsBlank()) break;
        if (blank_line_ == 0) blank_line_ = record_line_;
      }
      ++row_;
      if (blank_line_ != 0) {
        return Invalid(path_ + ": line " + std::to_string(blank_line_) +
                       " is blank but data follows on line " + std::to_string(record_line_) +
                       "; remove the blank line (each line must hold one JSON object)");
      }
      auto parsed = ParseObject();
      if (!parsed) return tl::unexpected(parsed.error());
    }
    values_.assign(header_.size(), nullptr);
    for (const auto& [key, value] : object_.items()) {
      const auto found = index_.find(key);
      if (found == index_.end()) {
        return Invalid(Where() + ": key " + Quoted(key) +
                       " is not a column; the columns are the keys of the first line (" +
                       ListNames(header_) + ")");
      }
      values_[found->second] = &value;
    }
    cells.resize(wanted.size());
    for (std::size_t j = 0; j < wanted.size(); ++j) {
      const Json* value = values_[wanted[j]];
      Cell& cell = cells[j];
      cell = Cell{};
      if (value == nullptr) continue;  // key absent: missing
      switch (value->type()) {
        case Json::value_t::null:
          cell.type = CellType::kNull;
          break;
        case Json::value_t::boolean:
          cell.type = CellType::kBool;
          cell.boolean = value->get<bool>();
          break;
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned:
        case Json::value_t::number_float:
          cell.type = CellType::kNumber;
          cell.number = value->get<double>();
          break;
        case Json::value_t::string:
          cell.type = CellType::kText;
          cell.text = value->get_ref<const std::string&>();
          break;
        default:
          return Invalid(Where() + ", column " + Quoted(header_[wanted[j]]) + ": a JSON " +
                         value->type_name() +
                         "; values must be numbers, strings, booleans or null (flatten nested "
                         "values into columns of their own)");
      }
    }
    return true;
  }

 private:
  bool IsBlank() const {
    return std::all_of(line_text_.begin(), line_text_.end(),
                       [](char c) { return c == ' ' || c == '\t'; });
  }

  // Reads one line (without its LF or CRLF) into line_text_. False at the end of the file.
  Result<bool> ReadLine() {
    line_text_.clear();
    record_line_ = line_;
    bool any = false;
    for (;;) {
      if (blocks_.pos == blocks_.end) {
        auto more = blocks_.Fill();
        if (!more) return tl::unexpected(more.error());
        if (!*more) break;
      }
      any = true;
      const char* data = blocks_.data();
      const char* start = data + blocks_.pos;
      const void* newline = std::memchr(start, '\n', blocks_.end - blocks_.pos);
      if (newline == nullptr) {
        line_text_.append(start, blocks_.end - blocks_.pos);
        blocks_.pos = blocks_.end;
        continue;
      }
      const auto length = static_cast<std::size_t>(static_cast<const char*>(newline) - start);
      line_text_.append(start, length);
      blocks_.pos += length + 1;
      ++line_;
      if (!line_text_.empty() && line_text_.back() == '\r') line_text_.pop_back();
      return true;
    }
    if (!line_text_.empty() && line_text_.back() == '\r') line_text_.pop_back();
    return any && !line_text_.empty();
  }

  Result<void> ParseObject() {
    try {
      object_ = Json::parse(line_text_);
    } catch (const Json::parse_error& e) {
      // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
      std::string detail = e.what();
      const auto at = detail.find("column ");
      if (at != std::string::npos) detail = detail.substr(at);
      return Invalid(Where() + ": invalid JSON (" + detail + ")");
    }
    if (!object_.is_object()) {
      return Invalid(Where() + ": a JSON " + std::string(object_.type_name()) +
                     ", expected an object (one JSON object per line)");
    }
    return {};
  }

  std::string line_text_;
  Json object_;
  bool first_pending_ = false;
  std::unordered_map<std::string, std::size_t> index_;
  std::vector<const Json*> values_;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};

// Texts that mean "missing". Most fields are not missing, so a length mask rejects them fast.
class MissingSet final {
 public:
  explicit MissingSet(const std::vector<std::string>& values) : values_(values) {
    for (const auto& v : values_) {
      if (v.size() < 64) {
        lengths_ |= std::uint64_t{1} << v.size();
      } else {
        long_values_ = true;
      }
    }
  }
  bool Contains(std::string_view text) const {
    if (text.size() < 64 && (lengths_ & (std::uint64_t{1} << text.size())) == 0) return false;
    if (text.size() >= 64 && !long_values_) return false;
    return std::find(values_.begin(), values_.end(), text) != values_.end();
  }

 private:
  std::vector<std::string> values_;
  std::uint64_t lengths_ = 0;
  bool long_values_ = false;
};

std::optional<double> ParseDouble(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// Accumulates one selected column. Starts numeric (unless forced categorical) and turns
// categorical at the first value that is not a number; the rows read before that are then
// re-read from the file (see ReadTable), so that the categories keep the file's exact text.
class ColumnBuilder final {
 public:
  ColumnBuilder(std::string name, std::optional<ColumnKind> forced)
      : name_(std::move(name)), forced_(forced) {
    categorical_ = forced_ == ColumnKind::kCategorical;
  }

  const std::string& name() const { return name_; }
  std::size_t rows_to_reread() const { return reread_rows_; }
  bool categorical() const { return categorical_; }

  void Reserve(std::size_t rows) {
    if (categorical_) {
      ReserveLarge(codes_, rows);
    } else {
      ReserveLarge(numbers_, rows);
    }
  }

  // `where` is called only to build an error message.
  template <class Where>
  Result<void> Add(const Cell& cell, const MissingSet& missing, const Where& where) {
    if (!categorical_) {
      switch (cell.type) {
        case CellType::kAbsent:
        case CellType::kNull:
          numbers_.push_back(std::numeric_limits<double>::quiet_NaN());
          return {};
        case CellType::kNumber:
          numbers_.push_back(cell.number);
          return {};
        case CellType::kText:
          if (missing.Contains(cell.text)) {
            numbers_.push_back(std::numeric_limits<double>::quiet_NaN());
            return {};
          }
          if (const auto number = ParseDouble(cell.text)) {
            numbers_.push_back(*number);  // a parsed NaN counts as missing
            return {};
          }
          break;
        case CellType::kBool:
          break;
      }
      if (forced_ == ColumnKind::kNumeric) {
        const std::string shown = cell.type == CellType::kBool
                                      ? std::string(cell.boolean ? "true" : "false")
                                      : std::string(cell.text);
        return Invalid(where() + ", column " + Quoted(name_) + ": " + Quoted(shown) +
                       " is not a number, but the column is declared numeric; fix the value, "
                       "add it to the missing values, or declare the column categorical");
      }
      // Turn categorical. Rows so far are re-read later to recover their text.
      reread_rows_ = numbers_.size();
      codes_.reserve(numbers_.capacity());
      codes_.assign(reread_rows_, -1);
      std::vector<double>().swap(numbers_);
      categorical_ = true;
    }
    auto code = CodeFor(cell, missing, where);
    if (!code) return tl::unexpected(code.error());
    codes_.push_back(*code);
    return {};
  }

  // Second pass: the code of row `row` (< rows_to_reread()) from its text.
  template <class Where>
  Result<void> Reread(std::size_t row, const Cell& cell, const MissingSet& missing,
                      const Where& where) {
    auto code = CodeFor(cell, missing, where);
    if (!code) return tl::unexpected(code.error());
    codes_[row] = *code;
    return {};
  }

  /// The column; `shrink` gives unused reserved memory back (a copy when there is some).
  Column Finish(bool shrink = true) {
    Column column;
    column.name = std::move(name_);
    if (!categorical_) {
      column.kind = ColumnKind::kNumeric;
      if (shrink) numbers_.shrink_to_fit();
      column.missing = static_cast<std::size_t>(
          std::count_if(numbers_.begin(), numbers_.end(), [](double v) { return std::isnan(v); }));
      column.numbers = std::move(numbers_);
      return column;
    }
    column.kind = ColumnKind::kCategorical;
    // Sort the categories and renumber the codes, so codes do not depend on row order.
    std::vector<std::int32_t> order(categories_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int32_t>(i);
    std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      return categories_[static_cast<std::size_t>(a)] < categories_[static_cast<std::size_t>(b)];
    });
    std::vector<std::int32_t> renumber(order.size());
    column.categories.reserve(order.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      renumber[static_cast<std::size_t>(order[i])] = static_cast<std::int32_t>(i);
      column.categories.push_back(std::move(categories_[static_cast<std::size_t>(order[i])]));
    }
    for (auto& code : codes_) {
      if (code < 0) {
        ++column.missing;
      } else {
        code = renumber[static_cast<std::size_t>(code)];
      }
    }
    if (shrink) codes_.shrink_to_fit();
    column.codes = std::move(codes_);
    return column;
  }

 private:
  template <class Where>
  Result<std::int32_t> CodeFor(const Cell& cell, const MissingSet& missing, const Where& where) {
    std::string number_text;
    std::string_view text;
    switch (cell.type) {
      case CellType::kAbsent:
      case CellType::kNull:
        return -1;
      case CellType::kBool:
        text = cell.boolean ? "true" : "false";
        break;
      case CellType::kNumber:
        number_text = NumberText(cell.number);
        text = number_text;
        break;
      case CellType::kText:
        if (missing.Contains(cell.text)) return -1;
        text = cell.text;
        break;
    }
    const auto found = dictionary_.find(text);
    if (found != dictionary_.end()) return found->second;
    if (categories_.size() >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
      return Invalid(where() + ", column " + Quoted(name_) + ": more than 2^31 distinct values");
    }
    const auto code = static_cast<std::int32_t>(categories_.size());
    categories_.emplace_back(text);
    dictionary_.emplace(std::string(text), code);
    return code;
  }

  std::string name_;
  std::optional<ColumnKind> forced_;
  bool categorical_ = false;
  std::size_t reread_rows_ = 0;
  std::vector<double> numbers_;
  std::vector<std::int32_t> codes_;
  std::vector<std::string> categories_;  // in order of first appearance until Finish()
  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> dictionary_;
};

struct Source {
  TableFormat format = TableFormat::kCsv;
  char delimiter = ',';
};

Result<Source> ResolveFormat(const std::string& path, const ReadOptions& options) {
  const std::string extension = AsciiLower(std::filesystem::path(path).extension().string());
  Source source;
  source.format = options.format;
  if (source.format == TableFormat::kAuto) {
    if (extension == ".csv" || extension == ".tsv") {
      source.format = TableFormat::kCsv;
    } else if (extension == ".jsonl" || extension == ".ndjson") {
      source.format = TableFormat::kJsonLines;
    } else {
      return Invalid(path + ": cannot tell the format from the extension " +
                     Quoted(extension.empty() ? "(none)" : extension) +
                     "; name the file .csv, .tsv, .jsonl or .ndjson, or give the format");
    }
  }
  source.delimiter = options.delimiter != 0 ? options.delimiter : extension == ".tsv" ? '\t' : ',';
  if (source.format == TableFormat::kCsv &&
      (source.delimiter == '"' || source.delimiter == '\n' || source.delimiter == '\r')) {
    return Invalid(path + ": the delimiter cannot be a quote or a line break");
  }
  return source;
}

Result<std::unique_ptr<RecordReader>> Open(const std::string& path, const Source& source) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Invalid(path + ": is a directory; expected a CSV or JSON Lines file");
  }
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return Invalid(path + ": cannot open the file (" + std::strerror(errno) + ")");
  }
  if (source.format == TableFormat::kJsonLines) {
    return std::make_unique<JsonLinesReader>(std::move(file), path);
  }
  return std::make_unique<CsvReader>(std::move(file), path, source.delimiter);
}

tl::unexpected<Error> UnknownColumn(const std::string& path, const std::string& name,
                                    const std::vector<std::string>& header, const char* what) {
  std::string message = path + ": " + what + " " + Quoted(name) +
                        " is not a column of the file (its columns: " + ListNames(header) + ")";
  const std::string hint = Suggest(name, header);
  if (!hint.empty()) message += "; did you mean " + Quoted(hint) + "?";
  return Invalid(std::move(message));
}

// ---- Plain CSV files, parsed in parallel pieces ----------------------------------------------
//
// Most data files have no quotes, so every '\n' ends a record and the file can be split at
// line breaks and parsed by several threads. Each piece gets its own column builders; the
// pieces are joined in file order. Anything that needs the one-thread reader's full rules
// or its error messages (a quote, a blank line, a lone CR, a wrong field count, a value the
// column's kind rejects, pieces that infer different kinds) stops the attempt, and ReadTable
// reads the file from the start with that reader instead. So the result never depends on the
// split; the attempt only costs time on files that turn out not to be plain.

class FileDescriptor final {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads up to `size` bytes at `offset`; the count read, 0 at the end of the file or on error.
std::size_t ReadAt(int fd, char* into, std::size_t size, std::uint64_t offset) {
  for (;;) {
    const ::ssize_t got = ::pread(fd, into, size, static_cast<::off_t>(offset));
    if (got >= 0) return static_cast<std::size_t>(got);
    if (errno != EINTR) return 0;
  }
}

// The offset just after the first '\n' at or after `offset`, or `end` when there is none.
std::uint64_t NextLineStart(int fd, std::uint64_t offset, std::uint64_t end) {
  char buffer[4096];
  while (offset < end) {
    const std::size_t got = ReadAt(
        fd, buffer, static_cast<std::size_t>(std::min<std::uint64_t>(sizeof buffer, end - offset)),
        offset);
    if (got == 0) return end;
    if (const void* found = std::memchr(buffer, '\n', got); found != nullptr) {
      return offset + static_cast<std::uint64_t>(static_cast<const char*>(found) - buffer) + 1;
    }
    offset += got;
  }
  return end;
}

struct PlainLayout {
  char delimiter = ',';
  std::size_t fields = 0;           // columns in the header
  std::vector<std::int32_t> slots;  // per field: the index of its builder, or -1
};

struct Piece {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  // Where the columns' reservation reaches: the end of the file for the first piece, whose
  // columns the others are appended to, so that joining copies only the later pieces.
  std::uint64_t reserve_end = 0;
  std::vector<ColumnBuilder> builders;
  std::size_t rows = 0;
  bool plain = false;  // parsed completely without anything the one-thread reader must handle
};

// One record of a plain file, its line break removed. False when it is not plain.
bool AddPlainRecord(const char* begin, const char* end, const PlainLayout& layout,
                    const MissingSet& missing, std::vector<ColumnBuilder>& builders) {
  if (end > begin && end[-1] == '\r') --end;
  if (begin == end) return false;                     // a blank line
  const auto nowhere = [] { return std::string(); };  // errors are reported by the other reader
  std::size_t field = 0;
  for (const char* p = begin;; ++field) {
    const char* q = p;
    while (q < end && *q != layout.delimiter && *q != '"' && *q != '\r') ++q;
    if (q < end && *q != layout.delimiter) return false;  // a quote or a lone carriage return
    if (field >= layout.fields) return false;
    if (const std::int32_t slot = layout.slots[field]; slot >= 0) {
      const Cell cell{.type = CellType::kText,
                      .text = std::string_view(p, static_cast<std::size_t>(q - p))};
      if (!builders[static_cast<std::size_t>(slot)].Add(cell, missing, nowhere)) return false;
    }
    if (q == end) break;
    p = q + 1;
  }
  return field + 1 == layout.fields;
}

// Parses the lines in [piece.begin, piece.end) into piece.builders; sets piece.plain when
// all of them were plain. Stops early once `stop` is set by another piece.
void ParsePlainPiece(int fd, const PlainLayout& layout, const MissingSet& missing, Piece& piece,
                     std::atomic<bool>& stop) {
  std::vector<char> buffer(static_cast<std::size_t>(
      std::min<std::uint64_t>(4 * kBlockBytes, piece.end - piece.begin + 1)));
  std::size_t kept = 0;  // bytes of an unfinished line at the front of the buffer
  std::uint64_t offset = piece.begin;
  std::uint64_t parsed = 0;  // bytes of the lines parsed so far
  const auto give_up = [&stop] { stop.store(true, std::memory_order_relaxed); };
  for (;;) {
    if (stop.load(std::memory_order_relaxed)) return;
    if (kept == buffer.size()) buffer.resize(buffer.size() * 2);  // a line longer than the buffer
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size() - kept, piece.end - offset));
    const std::size_t got = want == 0 ? 0 : ReadAt(fd, buffer.data() + kept, want, offset);
    if (want > 0 && got == 0) return give_up();  // the file shrank or cannot be read
    offset += got;
    const bool last = offset == piece.end;
    const std::size_t valid = kept + got;
    const char* data = buffer.data();
    std::size_t line = 0;
    while (line < valid) {
      const void* found = std::memchr(data + line, '\n', valid - line);
      if (found == nullptr && !last) break;
      const std::size_t line_end =
          found == nullptr ? valid
                           : static_cast<std::size_t>(static_cast<const char*>(found) - data);
      if (!AddPlainRecord(data + line, data + line_end, layout, missing, piece.builders)) {
        return give_up();
      }
      parsed += line_end + 1 - line;
      line = line_end + 1;
      if (++piece.rows == kRowsBeforeEstimate) {
        // Reserve up to reserve_end from the bytes per row so far (+5%).
        const double estimate = static_cast<double>(piece.rows) *
                                static_cast<double>(piece.reserve_end - piece.begin) /
                                static_cast<double>(parsed) * 1.05;
        for (auto& builder : piece.builders) builder.Reserve(static_cast<std::size_t>(estimate));
      }
    }
    if (last) {
      piece.plain = true;
      return;
    }
    kept = valid - line;
    std::memmove(buffer.data(), data + line, kept);
  }
}

// Joins the pieces' columns in file order; nullopt when the pieces inferred different kinds
// for a column or a column turned categorical part way through a piece.
std::optional<Table> JoinPieces(std::vector<Piece>& pieces) {
  std::erase_if(pieces, [](const Piece& piece) { return piece.rows == 0; });
  if (pieces.empty()) return std::nullopt;
  const std::size_t columns = pieces.front().builders.size();
  for (std::size_t j = 0; j < columns; ++j) {
    for (const auto& piece : pieces) {
      const auto& builder = piece.builders[j];
      if (builder.rows_to_reread() > 0 ||
          builder.categorical() != pieces.front().builders[j].categorical()) {
        return std::nullopt;
      }
    }
  }
  Table table;
  for (const auto& piece : pieces) table.rows += piece.rows;
  table.columns.reserve(columns);
  for (std::size_t j = 0; j < columns; ++j) {
    if (pieces.size() == 1) {
      table.columns.push_back(pieces.front().builders[j].Finish());
      continue;
    }
    std::vector<Column> parts;
    parts.reserve(pieces.size());
    for (auto& piece : pieces) parts.push_back(piece.builders[j].Finish(/*shrink=*/false));
    Column column;
    column.name = parts.front().name;
    column.kind = parts.front().kind;
    if (column.kind == ColumnKind::kNumeric) {
      // The first piece reserved room for the whole file: append the others to it.
      column.numbers = std::move(parts.front().numbers);
      column.missing = parts.front().missing;
      ReserveLarge(column.numbers, table.rows);
      for (std::size_t k = 1; k < parts.size(); ++k) {
        auto& part = parts[k];
        column.numbers.insert(column.numbers.end(), part.numbers.begin(), part.numbers.end());
        column.missing += part.missing;
        std::vector<double>().swap(part.numbers);
      }
    } else {
      // Each part's categories are sorted; the joined ones are their sorted union.
      for (const auto& part : parts) {
        column.categories.insert(column.categories.end(), part.categories.begin(),
                                 part.categories.end());
      }
      std::sort(column.categories.begin(), column.categories.end());
      column.categories.erase(std::unique(column.categories.begin(), column.categories.end()),
                              column.categories.end());
      ReserveLarge(column.codes, table.rows);
      std::vector<std::int32_t> renumber;
      for (auto& part : parts) {
        renumber.clear();
        for (const auto& category : part.categories) {
          renumber.push_back(static_cast<std::int32_t>(
              std::lower_bound(column.categories.begin(), column.categories.end(), category) -
              column.categories.begin()));
        }
        for (const std::int32_t code : part.codes) {
          column.codes.push_back(code < 0 ? code : renumber[static_cast<std::size_t>(code)]);
        }
        column.missing += part.missing;
        std::vector<std::int32_t>().swap(part.codes);
      }
    }
    table.columns.push_back(std::move(column));
  }
  return table;
}

using BuilderSpec = std::pair<std::string, std::optional<ColumnKind>>;

std::vector<ColumnBuilder> MakeBuilders(const std::vector<BuilderSpec>& specs) {
  std::vector<ColumnBuilder> builders;
  builders.reserve(specs.size());
  for (const auto& [name, kind] : specs) builders.emplace_back(name, kind);
  return builders;
}

// The table from the data lines in [begin, end) when the file is plain (see above), parsed by
// up to `options.threads` threads; nullopt otherwise.
std::optional<Table> ReadPlainCsv(const std::string& path, std::uint64_t begin, std::uint64_t end,
                                  const PlainLayout& layout, const std::vector<BuilderSpec>& specs,
                                  const MissingSet& missing, const ReadOptions& options) {
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  // The LF of a header that ended with CRLF.
  if (char crlf[2] = {}; begin > 0 && begin < end && ReadAt(fd.get(), crlf, 2, begin - 1) == 2 &&
                         crlf[0] == '\r' && crlf[1] == '\n') {
    ++begin;
  }
  if (begin >= end) return std::nullopt;
  const std::uint64_t by_size = (end - begin) / std::max<std::size_t>(1, options.min_chunk_bytes);
  const std::size_t count = WorkerCount(static_cast<std::size_t>(by_size), options.threads);

  std::vector<Piece> pieces(count);
  std::uint64_t at = begin;
  for (std::size_t k = 0; k < count; ++k) {
    pieces[k].begin = at;
    at = k + 1 == count ? end
                        : NextLineStart(fd.get(), begin + (end - begin) * (k + 1) / count, end);
    at = std::max(at, pieces[k].begin);
    pieces[k].end = at;
    pieces[k].reserve_end = k == 0 ? end : at;
    pieces[k].builders = MakeBuilders(specs);
  }
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> next{0};
  RunWorkers(count, [&] {
    for (std::size_t k = next++; k < count; k = next++) {
      ParsePlainPiece(fd.get(), layout, missing, pieces[k], stop);
    }
  });
  for (const auto& piece : pieces) {
    if (!piece.plain) return std::nullopt;
  }
  // A file still being written may have grown past `end` mid-line: the last line read could
  // be a cut-off value. The one-thread reader reads to wherever the file ends.
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || static_cast<std::uint64_t>(info.st_size) != end) {
    return std::nullopt;
  }
  return JoinPieces(pieces);
}

}  // namespace

std::string NumberText(double value) {
  char buffer[64];
  const auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, ec == std::errc() ? ptr : buffer);
}

const Column* Table::Find(std::string_view name) const {
  for (const auto& column : columns) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

Result<Table> ReadTable(const std::string& path, const ReadOptions& options) {
  const auto source = ResolveFormat(path, options);
  if (!source) return tl::unexpected(source.error());
  auto reader = Open(path, *source);
  if (!reader) return tl::unexpected(reader.error());
  const auto header = (*reader)->ReadHeader();
  if (!header) return tl::unexpected(header.error());

  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < header->size(); ++i) {
    const auto [it, inserted] = index.emplace((*header)[i], i);
    if (!inserted) {
      return Invalid(path + ": header columns " + std::to_string(it->second + 1) + " and " +
                     std::to_string(i + 1) + " are both named " + Quoted((*header)[i]) +
                     "; column names must be unique");
    }
  }

  // The selected columns, as indices into the header.
  std::vector<std::size_t> wanted;
  if (options.columns.empty()) {
    for (std::size_t i = 0; i < header->size(); ++i) wanted.push_back(i);
  } else {
    for (const auto& name : options.columns) {
      const auto found = index.find(name);
      if (found == index.end()) return UnknownColumn(path, name, *header, "requested column");
      if (std::find(wanted.begin(), wanted.end(), found->second) != wanted.end()) {
        return Invalid(path + ": column " + Quoted(name) + " is requested twice");
      }
      wanted.push_back(found->second);
    }
  }
  for (const auto& [name, kind] : options.kinds) {
    if (index.find(name) == index.end()) {
      return UnknownColumn(path, name, *header, "the kind is given for column");
    }
  }

  std::vector<BuilderSpec> specs;
  specs.reserve(wanted.size());
  for (const std::size_t i : wanted) {
    const auto& name = (*header)[i];
    const auto forced = options.kinds.find(name);
    specs.emplace_back(name, forced == options.kinds.end()
                                 ? std::nullopt
                                 : std::optional<ColumnKind>(forced->second));
  }

  const MissingSet missing(options.missing_values);
  std::error_code size_error;
  const std::uint64_t file_bytes = std::filesystem::file_size(path, size_error);
  const std::uint64_t header_end = (*reader)->Offset();

  if (source->format == TableFormat::kCsv && options.plain_fast_path && !size_error) {
    PlainLayout layout{.delimiter = source->delimiter, .fields = header->size(), .slots = {}};
    layout.slots.assign(header->size(), -1);
    for (std::size_t j = 0; j < wanted.size(); ++j) {
      layout.slots[wanted[j]] = static_cast<std::int32_t>(j);
    }
    auto plain = ReadPlainCsv(path, header_end, file_bytes, layout, specs, missing, options);
    if (plain) return std::move(*plain);
  }
  std::vector<ColumnBuilder> builders = MakeBuilders(specs);
  const auto where = [&reader] { return reader->get()->Where(); };

  std::vector<Cell> cells;
  std::size_t rows = 0;
  for (;;) {
    auto more = (*reader)->Next(wanted, cells);
    if (!more) return tl::unexpected(more.error());
    if (!*more) break;
    for (std::size_t j = 0; j < builders.size(); ++j) {
      auto added = builders[j].Add(cells[j], missing, where);
      if (!added) return tl::unexpected(added.error());
    }
    ++rows;
    if (rows == kRowsBeforeEstimate && !size_error) {
      // Reserve for the whole file from the bytes per row so far (+5%), so that the column
      // vectors do not overshoot by doubling.
      const std::uint64_t used = (*reader)->Offset() - header_end;
      if (used > 0 && file_bytes > header_end) {
        const double estimate = static_cast<double>(rows) *
                                static_cast<double>(file_bytes - header_end) /
                                static_cast<double>(used) * 1.05;
        for (auto& builder : builders) builder.Reserve(static_cast<std::size_t>(estimate));
      }
    }
  }
  if (rows == 0) {
    return Invalid(path + ": no data rows (the file has only " +
                   std::string(source->format == TableFormat::kCsv ? "a header" : "blank lines") +
                   ")");
  }

  // Columns that turned categorical after some numeric rows: re-read those rows' text.
  std::size_t reread = 0;
  for (const auto& builder : builders) reread = std::max(reread, builder.rows_to_reread());
  if (reread > 0) {
    auto again = Open(path, *source);
    if (!again) return tl::unexpected(again.error());
    if (auto h = (*again)->ReadHeader(); !h) return tl::unexpected(h.error());
    const auto again_where = [&again] { return again->get()->Where(); };
    for (std::size_t row = 0; row < reread; ++row) {
      auto more = (*again)->Next(wanted, cells);
      if (!more) return tl::unexpected(more.error());
      if (!*more) return Invalid(path + ": the file changed while it was being read");
      for (std::size_t j = 0; j < builders.size(); ++j) {
        if (row >= builders[j].rows_to_reread()) continue;
        auto done = builders[j].Reread(row, cells[j], missing, again_where);
        if (!done) return tl::unexpected(done.error());
      }
    }
  }

  Table table;
  table.rows = rows;
  table.columns.reserve(builders.size());
  for (auto& builder : builders) table.columns.push_back(builder.Finish());
  return table;
}

}  // namespace stagegate::ml
