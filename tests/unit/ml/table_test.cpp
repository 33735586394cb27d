#include "ml/table.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace stagegate::ml {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class TableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device seed;
    dir_ = fs::temp_directory_path() / ("sg_table_test_" + std::to_string(seed()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  // The error message of reading `content` as file `name`, with the file's path written FILE.
  std::string ErrorOf(const std::string& name, const std::string& content,
                      const ReadOptions& options = {}) {
    const std::string path = Write(name, content);
    const auto table = ReadTable(path, options);
    if (table) return "(no error)";
    EXPECT_EQ(table.error().code, ErrorCode::kInvalidArgument);
    std::string message = table.error().message;
    for (auto at = message.find(path); at != std::string::npos; at = message.find(path)) {
      message.replace(at, path.size(), "FILE");
    }
    return message;
  }

  fs::path dir_;
};

std::vector<std::string> CategoryValues(const Column& column) {
  std::vector<std::string> values;
  for (const auto code : column.codes) {
    values.push_back(code < 0 ? "<missing>" : column.categories[static_cast<std::size_t>(code)]);
  }
  return values;
}

TEST_F(TableTest, ReadsCsvColumnsAndInfersKinds) {
  const auto table =
      ReadTable(Write("t.csv", "id,colour,score\n1,red,0.5\n2,blue,-1e3\n3,red,7\n"));
  ASSERT_TRUE(table.has_value()) << table.error().message;
  EXPECT_EQ(table->rows, 3U);
  ASSERT_EQ(table->columns.size(), 3U);
  const Column* id = table->Find("id");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->kind, ColumnKind::kNumeric);
  EXPECT_EQ(id->numbers, (std::vector<double>{1, 2, 3}));
  const Column* colour = table->Find("colour");
  ASSERT_NE(colour, nullptr);
  EXPECT_EQ(colour->kind, ColumnKind::kCategorical);
  EXPECT_EQ(colour->categories, (std::vector<std::string>{"blue", "red"}));  // sorted
  EXPECT_EQ(colour->codes, (std::vector<std::int32_t>{1, 0, 1}));
  EXPECT_EQ(table->Find("score")->numbers, (std::vector<double>{0.5, -1000, 7}));
  EXPECT_EQ(table->Find("nope"), nullptr);
}

TEST_F(TableTest, QuotingFollowsRfc4180) {
  const std::string csv =
      "name,text\n"
      "a,\"x, y\"\n"                 // delimiter inside quotes
      "b,\"she said \"\"hi\"\"\"\n"  // "" is one quote
      "c,\"two\nlines\"\n"           // quoted line break
      "d,\"\"\n"                     // quoted empty: the empty text, a missing value
      "e,5\"6\n";                    // a quote inside an unquoted field is literal
  const auto table = ReadTable(Write("q.csv", csv));
  ASSERT_TRUE(table.has_value()) << table.error().message;
  EXPECT_EQ(table->rows, 5U);
  EXPECT_EQ(
      CategoryValues(*table->Find("text")),
      (std::vector<std::string>{"x, y", "she said \"hi\"", "two\nlines", "<missing>", "5\"6"}));
}

TEST_F(TableTest, CrlfLineEndsAndByteOrderMark) {
  const auto table = ReadTable(Write("w.csv", "\xEF\xBB\xBFx,y\r\n1,\"a\r\nb\"\r\n2,c\r\n"));
  ASSERT_TRUE(table.has_value()) << table.error().message;
  ASSERT_NE(table->Find("x"), nullptr);  // not "\xEF\xBB\xBFx"
  EXPECT_EQ(table->Find("x")->numbers, (std::vector<double>{1, 2}));
  EXPECT_EQ(CategoryValues(*table->Find("y")), (std::vector<std::string>{"a\r\nb", "c"}));
}

TEST_F(TableTest, LastLineWithoutNewlineAndTrailingBlankLines) {
  const auto table = ReadTable(Write("e.csv", "a,b\n1,2\n3,4\n\n\n"));
  ASSERT_TRUE(table.has_value()) << table.error().message;
  EXPECT_EQ(table->rows, 2U);
  const auto unterminated = ReadTable(Write("f.csv", "a,b\n1,2\n3,4"));
  ASSERT_TRUE(unterminated.has_value());
  EXPECT_EQ(unterminated->Find("b")->numbers, (std::vector<double>{2, 4}));
}

TEST_F(TableTest, MissingValues) {
  const auto table = ReadTable(Write("m.csv", "n,c\n1,a\nNA,\n,N/A\nnan,b\nNULL,None\n2.5,null\n"));
  ASSERT_TRUE(table.has_value()) << table.error().message;
  const Column& n = *table->Find("n");
  EXPECT_EQ(n.kind, ColumnKind::kNumeric);
  EXPECT_EQ(n.missing, 4U);
  EXPECT_EQ(n.numbers[0], 1);
  EXPECT_TRUE(std::isnan(n.numbers[1]));
  EXPECT_EQ(n.numbers[5], 2.5);
  const Column& c = *table->Find("c");
  EXPECT_EQ(c.missing, 4U);
  EXPECT_EQ(CategoryValues(c), (std::vector<std::string>{"a", "<missing>", "<missing>", "b",
                                                         "<missing>", "<missing>"}));

  ReadOptions custom;
  custom.missing_values = {"-999"};
  const auto sentinel = ReadTable(Write("s.csv", "v\n3\n-999\nNA\n"), custom);
  ASSERT_TRUE(sentinel.has_value());
  const Column& v = *sentinel->Find("v");
  EXPECT_EQ(v.kind, ColumnKind::kCategorical);  // "NA" is now a value, not missing
  EXPECT_EQ(CategoryValues(v), (std::vector<std::string>{"3", "<missing>", "NA"}));
}

TEST_F(TableTest, ColumnTurningCategoricalLateKeepsTheExactText) {
  // 5000 numeric rows (past the reservation estimate and several blocks' worth of text), then
  // a word: the earlier rows must keep their text ("007", "1.50"), not a reformatted number.
  std::string csv = "code,k\n";
  for (int i = 0; i < 5000; ++i) {
    csv += (i % 2 == 0 ? "007," : "1.50,") + std::to_string(i) + "\n";
  }
  csv += "abc,5000\n";
  const auto table = ReadTable(Write("late.csv", csv));
  ASSERT_TRUE(table.has_value()) << table.error().message;
  const Column& code = *table->Find("code");
  EXPECT_EQ(code.kind, ColumnKind::kCategorical);
  EXPECT_EQ(code.categories, (std::vector<std::string>{"007", "1.50", "abc"}));
  ASSERT_EQ(code.codes.size(), 5001U);
  EXPECT_EQ(code.codes[0], 0);
  EXPECT_EQ(code.codes[1], 1);
  EXPECT_EQ(code.codes[4999], 1);
  EXPECT_EQ(code.codes[5000], 2);
  EXPECT_EQ(table->Find("k")->numbers[4321], 4321);
}

TEST_F(TableTest, RecordsSpanningReadBlocks) {
  // About 3 MiB of CRLF rows with quoted fields of varying length, so that quotes, "" escapes,
  // delimiters and CR/LF pairs fall on the 1 MiB block boundaries at many different offsets.
  std::string csv = "i,text\r\n";
  std::vector<std::string> expected;
  for (int i = 0; i < 60000; ++i) {
    std::string text =
        std::string(static_cast<std::size_t>(i % 37), 'x') + "\"q\"," + std::to_string(i);
    expected.push_back(text);
    std::string quoted;
    for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    csv += std::to_string(i) + ",\"" + quoted + "\"\r\n";
  }
  const auto table = ReadTable(Write("big.csv", csv));
  ASSERT_TRUE(table.has_value()) << table.error().message;
  ASSERT_EQ(table->rows, 60000U);
  const Column& i = *table->Find("i");
  const auto texts = CategoryValues(*table->Find("text"));
  for (std::size_t row = 0; row < 60000; ++row) {
    ASSERT_EQ(i.numbers[row], static_cast<double>(row));
    ASSERT_EQ(texts[row], expected[row]) << "row " << row;
  }
}

TEST_F(TableTest, ForcedKindsAndColumnSelection) {
  ReadOptions options;
  options.columns = {"c", "a"};
  options.kinds = {{"a", ColumnKind::kCategorical}};
  const auto table = ReadTable(Write("k.csv", "a,b,c\n1,x,3\n2,y,4\n1,z,5\n"), options);
  ASSERT_TRUE(table.has_value()) << table.error().message;
  ASSERT_EQ(table->columns.size(), 2U);
  EXPECT_EQ(table->columns[0].name, "c");
  EXPECT_EQ(table->columns[1].name, "a");
  EXPECT_EQ(table->Find("b"), nullptr);
  EXPECT_EQ(table->columns[1].kind, ColumnKind::kCategorical);
  EXPECT_EQ(CategoryValues(table->columns[1]), (std::vector<std::string>{"1", "2", "1"}));
}

TEST_F(TableTest, TsvAndExplicitDelimiterAndFormat) {
  const auto tsv = ReadTable(Write("t.tsv", "a\tb\n1,5\t2\n"));
  ASSERT_TRUE(tsv.has_value()) << tsv.error().message;
  EXPECT_EQ(CategoryValues(*tsv->Find("a")), (std::vector<std::string>{"1,5"}));
  ReadOptions semicolon;
  semicolon.format = TableFormat::kCsv;
  semicolon.delimiter = ';';
  const auto table = ReadTable(Write("data.txt", "a;b\n1;2\n"), semicolon);
  ASSERT_TRUE(table.has_value()) << table.error().message;
  EXPECT_EQ(table->Find("b")->numbers, (std::vector<double>{2}));
}

TEST_F(TableTest, ReadsJsonLines) {
  const std::string jsonl =
      "{\"x\": 1, \"ok\": true, \"s\": \"a\", \"n\": null}\r\n"
      "{\"x\": 2.5, \"ok\": false, \"s\": \"3\"}\n"  // "n" absent: missing
      "{\"n\": 4, \"s\": \"b\", \"x\": -1e2, \"ok\": null}\n";
  const auto table = ReadTable(Write("t.jsonl", jsonl));
  ASSERT_TRUE(table.has_value()) << table.error().message;
  EXPECT_EQ(table->rows, 3U);
  ASSERT_EQ(table->columns.size(), 4U);
  EXPECT_EQ(table->columns[0].name, "x");  // the first line's key order
  EXPECT_EQ(table->Find("x")->numbers, (std::vector<double>{1, 2.5, -100}));
  EXPECT_EQ(CategoryValues(*table->Find("ok")),
            (std::vector<std::string>{"true", "false", "<missing>"}));
  EXPECT_EQ(CategoryValues(*table->Find("s")), (std::vector<std::string>{"a", "3", "b"}));
  const Column& n = *table->Find("n");
  EXPECT_EQ(n.kind, ColumnKind::kNumeric);
  EXPECT_EQ(n.missing, 2U);
  EXPECT_EQ(n.numbers[2], 4);
}

TEST_F(TableTest, SingleColumnBlankLineIsAMissingValue) {
  const auto table = ReadTable(Write("one.csv", "v\n1\n\n3\n"));
  ASSERT_TRUE(table.has_value()) << table.error().message;
  EXPECT_EQ(table->rows, 3U);
  EXPECT_EQ(table->Find("v")->missing, 1U);
}

// ---- errors: each names the file, the row and line, and the column --------------------------

TEST_F(TableTest, MissingFile) {
  const auto path = (dir_ / "absent.csv").string();
  const auto table = ReadTable(path);
  ASSERT_FALSE(table.has_value());
  EXPECT_EQ(table.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(table.error().message, path + ": cannot open the file (No such file or directory)");
}

TEST_F(TableTest, EmptyFile) {
  EXPECT_EQ(ErrorOf("e.csv", ""), "FILE: the file is empty; expected a header row");
  EXPECT_EQ(ErrorOf("bom.csv", "\xEF\xBB\xBF"), "FILE: the file is empty; expected a header row");
  EXPECT_EQ(ErrorOf("e.jsonl", ""), "FILE: the file is empty; expected one JSON object per line");
}

TEST_F(TableTest, HeaderOnly) {
  EXPECT_EQ(ErrorOf("h.csv", "a,b\n"), "FILE: no data rows (the file has only a header)");
  EXPECT_EQ(ErrorOf("h2.csv", "a,b"), "FILE: no data rows (the file has only a header)");
}

TEST_F(TableTest, TooFewFields) {
  EXPECT_EQ(ErrorOf("few.csv", "a,b,c\n1,2,3\n4,5\n"),
            "FILE: row 2 (line 3) has 2 fields but the header has 3 columns ('a', 'b', 'c'): "
            "column 'c' has no value");
}

TEST_F(TableTest, TooManyFields) {
  EXPECT_EQ(ErrorOf("many.csv", "a,b\n1,2\n\"x\ny\",2\n3,4,5\n"),
            "FILE: row 3 (line 5) has 3 fields but the header has 2 columns ('a', 'b'): field 3 "
            "('5') has no column; quote values that contain the delimiter");
}

TEST_F(TableTest, UnterminatedQuote) {
  EXPECT_EQ(ErrorOf("uq.csv", "a,b\n1,2\n3,\"oops\n4,5\n"),
            "FILE: row 2 (line 3), column 'b': unterminated quoted field (the quote opens on "
            "line 3 and is never closed); close it with '\"' or escape quotes as \"\"");
}

TEST_F(TableTest, TextAfterClosingQuote) {
  EXPECT_EQ(ErrorOf("aq.csv", "a,b\n\"x\"y,2\n"),
            "FILE: row 1 (line 2), column 'a': unexpected character 'y' after a closing quote; "
            "a quoted field must end at the delimiter or the end of the line (write a "
            "quote inside a quoted field as \"\")");
}

TEST_F(TableTest, BlankLineBeforeData) {
  EXPECT_EQ(ErrorOf("bl.csv", "a,b\n1,2\n\n3,4\n"),
            "FILE: line 3 is blank but data follows on line 4 (row 2); remove the blank line");
}

TEST_F(TableTest, UnknownRequestedColumnSuggestsAndLists) {
  ReadOptions options;
  options.columns = {"lable"};
  EXPECT_EQ(ErrorOf("u.csv", "label,score\n1,0.5\n", options),
            "FILE: requested column 'lable' is not a column of the file (its columns: 'label', "
            "'score'); did you mean 'label'?");
  options.columns = {"zzz"};
  EXPECT_EQ(ErrorOf("u2.csv", "label,score\n1,0.5\n", options),
            "FILE: requested column 'zzz' is not a column of the file (its columns: "
            "'label', 'score')");
}

TEST_F(TableTest, DuplicateHeaderNames) {
  EXPECT_EQ(ErrorOf("d.csv", "a,b,a\n1,2,3\n"),
            "FILE: header columns 1 and 3 are both named 'a'; column names must be unique");
}

TEST_F(TableTest, ForcedNumericColumnWithText) {
  ReadOptions options;
  options.kinds = {{"score", ColumnKind::kNumeric}};
  EXPECT_EQ(ErrorOf("f.csv", "id,score\n1,0.5\n2,high\n", options),
            "FILE: row 2 (line 3), column 'score': 'high' is not a number, but the column is "
            "declared numeric; fix the value, add it to the missing values, or declare the "
            "column categorical");
}

TEST_F(TableTest, InvalidJsonLine) {
  const std::string message = ErrorOf("bad.jsonl", "{\"a\": 1}\n{\"a\": }\n");
  EXPECT_EQ(message.rfind("FILE: row 2 (line 2): invalid JSON (column 7: ", 0), 0U) << message;
}

TEST_F(TableTest, JsonLineThatIsNotAnObject) {
  EXPECT_EQ(ErrorOf("arr.jsonl", "{\"a\": 1}\n[1, 2]\n"),
            "FILE: row 2 (line 2): a JSON array, expected an object (one JSON object per line)");
  EXPECT_EQ(ErrorOf("num.jsonl", "3\n"),
            "FILE: row 1 (line 1): a JSON number, expected an object (one JSON object per line)");
}

TEST_F(TableTest, JsonUnknownKeyAndNestedValue) {
  EXPECT_EQ(ErrorOf("k.jsonl", "{\"a\": 1}\n{\"a\": 2, \"b\": 3}\n"),
            "FILE: row 2 (line 2): key 'b' is not a column; the columns are the keys of the first "
            "line ('a')");
  EXPECT_EQ(ErrorOf("n.jsonl", "{\"a\": 1, \"b\": [1]}\n"),
            "FILE: row 1 (line 1), column 'b': a JSON array; values must be numbers, strings, "
            "booleans or null (flatten nested values into columns of their own)");
}

TEST_F(TableTest, UnknownExtension) {
  EXPECT_EQ(ErrorOf("data.parquet", "a\n1\n"),
            "FILE: cannot tell the format from the extension '.parquet'; name the file .csv, "
            ".tsv, .jsonl or .ndjson, or give the format");
}

// ---- Plain CSV files read in parallel pieces ------------------------------------------------

// "" when both reads give the same table or the same error, else what differs.
std::string Difference(const Result<Table>& a, const Result<Table>& b) {
  if (a.has_value() != b.has_value()) {
    return "one read failed: " + (a ? b.error().message : a.error().message);
  }
  if (!a)
    return a.error().message == b.error().message ? ""
                                                  : a.error().message + " | " + b.error().message;
  if (a->rows != b->rows)
    return "rows " + std::to_string(a->rows) + " vs " + std::to_string(b->rows);
  if (a->columns.size() != b->columns.size()) return "column count";
  for (std::size_t j = 0; j < a->columns.size(); ++j) {
    const Column& x = a->columns[j];
    const Column& y = b->columns[j];
    if (x.name != y.name || x.kind != y.kind || x.missing != y.missing) return "column " + x.name;
    if (x.categories != y.categories || x.codes != y.codes) return "categories of " + x.name;
    if (x.numbers.size() != y.numbers.size()) return "numbers of " + x.name;
    for (std::size_t i = 0; i < x.numbers.size(); ++i) {
      const bool same =
          std::isnan(x.numbers[i]) ? std::isnan(y.numbers[i]) : x.numbers[i] == y.numbers[i];
      if (!same) return "row " + std::to_string(i) + " of " + x.name;
    }
  }
  return "";
}

ReadOptions Split(unsigned threads, std::size_t min_chunk_bytes) {
  ReadOptions options;
  options.threads = threads;
  options.min_chunk_bytes = min_chunk_bytes;
  return options;
}

ReadOptions OneThread() {
  ReadOptions options;
  options.plain_fast_path = false;
  return options;
}

TEST_F(TableTest, PiecesJoinCategoriesInSortedOrder) {
  // Each half has categories the other lacks; codes refer to the joined, sorted list.
  std::string csv = "k,x\n";
  for (int i = 0; i < 200; ++i) csv += (i < 100 ? "zeta," : "alpha,") + std::to_string(i) + "\n";
  csv += "mid,NA\n";
  const auto path = Write("cats.csv", csv);
  const auto split = ReadTable(path, Split(4, 64));
  ASSERT_TRUE(split.has_value()) << split.error().message;
  EXPECT_EQ(split->columns[0].categories, (std::vector<std::string>{"alpha", "mid", "zeta"}));
  EXPECT_EQ(split->columns[0].codes.front(), 2);
  EXPECT_EQ(split->columns[0].codes[150], 0);
  EXPECT_EQ(split->columns[1].missing, 1U);
  EXPECT_EQ(Difference(split, ReadTable(path, OneThread())), "");
}

TEST_F(TableTest, PiecesThatInferDifferentKindsFallBackToOneReader) {
  // Numbers only in the first pieces, text in the last: the column is categorical with the
  // numbers' exact text, as the one-thread reader makes it.
  std::string csv = "a,b\n";
  for (int i = 0; i < 300; ++i) csv += std::to_string(i) + ",0" + std::to_string(i % 7) + ".50\n";
  csv += "1,late text\n";
  const auto path = Write("late.csv", csv);
  const auto split = ReadTable(path, Split(3, 100));
  ASSERT_TRUE(split.has_value()) << split.error().message;
  EXPECT_EQ(split->columns[1].kind, ColumnKind::kCategorical);
  EXPECT_EQ(CategoryValues(split->columns[1])[3], "03.50");
  EXPECT_EQ(Difference(split, ReadTable(path, OneThread())), "");
}

TEST_F(TableTest, ErrorsInALaterPieceAreTheOneThreadReadersErrors) {
  std::string csv = "a,b\n";
  for (int i = 0; i < 500; ++i) csv += std::to_string(i) + "," + std::to_string(i * 2) + "\n";
  csv += "7\n";
  for (int i = 0; i < 10; ++i) csv += "1,2\n";
  const auto path = Write("bad.csv", csv);
  const auto split = ReadTable(path, Split(4, 128));
  ASSERT_FALSE(split.has_value());
  EXPECT_TRUE(split.error().message.find("row 501 (line 502) has 1 field") != std::string::npos)
      << split.error().message;
  EXPECT_EQ(Difference(split, ReadTable(path, OneThread())), "");
}

// Generated files, plain and not, read whole by one thread and in 1 to 4 pieces: the tables
// (or the errors) must be identical.
TEST_F(TableTest, SplitReadsMatchTheOneThreadReader) {
  std::mt19937 rng(20241206);
  const auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int file = 0; file < 120; ++file) {
    const int columns = 1 + pick(5);
    const int rows = 1 + pick(400);
    const bool crlf = pick(4) == 0;
    std::vector<int> kind(static_cast<std::size_t>(columns));  // 0 number, 1 text, 2 mixed late
    for (auto& k : kind) k = pick(6) == 0 ? 2 : pick(2);
    std::string csv;
    for (int c = 0; c < columns; ++c)
      csv += (c > 0 ? "," : "") + std::string("c") + std::to_string(c);
    csv += crlf ? "\r\n" : "\n";
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < columns; ++c) {
        if (c > 0) csv += ',';
        const int k = kind[static_cast<std::size_t>(c)];
        if (pick(15) == 0) {
          csv += pick(2) == 0 ? "" : "NA";
        } else if (k == 0 || (k == 2 && r < rows * 3 / 4)) {
          csv += std::to_string(pick(1000) - 500) + (pick(2) == 0 ? "" : ".25");
        } else {
          csv += "v" + std::to_string(pick(3 + r / 10));  // later rows bring new categories
        }
      }
      if (file % 10 == 3 && r == rows / 2) csv += pick(2) == 0 ? ",extra" : "";
      csv += crlf ? "\r\n" : "\n";
      if (file % 10 == 5 && r == rows / 3) csv += pick(2) == 0 ? "\n" : "\"q\"\n";
    }
    if (file % 10 == 7) csv.pop_back();  // no line break at the end
    const auto path = Write("gen" + std::to_string(file) + ".csv", csv);
    const auto expected = ReadTable(path, OneThread());
    for (const unsigned threads : {1U, 2U, 4U}) {
      const auto split = ReadTable(path, Split(threads, 1 + static_cast<std::size_t>(pick(300))));
      EXPECT_EQ(Difference(expected, split), "")
          << "file " << file << ", " << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace stagegate::ml
