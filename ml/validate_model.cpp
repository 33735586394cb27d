#include "ml/validate_model.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

namespace stagegate::ml {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::size_t kMaxProblems = 5;
constexpr std::uint64_t kMaxRequirementsBytes = std::uint64_t{1} << 20U;

// MLflow's column data types (mlflow.types.DataType) and the composite ones of MLflow 2.10+.
constexpr std::array<std::string_view, 8> kScalarTypes = {
    "boolean", "integer", "long", "float", "double", "string", "binary", "datetime"};
constexpr std::array<std::string_view, 4> kCompositeTypes = {"array", "object", "map", "any"};

std::string Join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

// Quotes a value for a message, cut short: values come from untrusted files.
std::string Quote(std::string_view s) {
  constexpr std::size_t kMax = 80;
  return "'" + std::string(s.substr(0, kMax)) + (s.size() > kMax ? "...'" : "'");
}

std::string KnownTypes() {
  std::vector<std::string> all(kScalarTypes.begin(), kScalarTypes.end());
  all.insert(all.end(), kCompositeTypes.begin(), kCompositeTypes.end());
  return Join(all);
}

bool IsScalarType(std::string_view type) {
  return std::find(kScalarTypes.begin(), kScalarTypes.end(), type) != kScalarTypes.end();
}

bool IsKnownType(std::string_view type) {
  return IsScalarType(type) ||
         std::find(kCompositeTypes.begin(), kCompositeTypes.end(), type) != kCompositeTypes.end();
}

std::string FormatBytes(std::uint64_t bytes) {
  static constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f %s", value, kUnits[unit]);
  return buffer;
}

// Keeps problem lists short: the first kMaxProblems, then a count of the rest.
class Problems final {
 public:
  void Add(std::string message) {
    if (items_.size() < kMaxProblems) {
      items_.push_back(std::move(message));
    } else {
      ++dropped_;
    }
  }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> Take() {
    if (dropped_ > 0) items_.push_back("and " + std::to_string(dropped_) + " more");
    return std::move(items_);
  }

 private:
  std::vector<std::string> items_;
  std::size_t dropped_ = 0;
};

// ---- YAML ----

std::string KindOf(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "the value " + Quote(node.Scalar());
}

// yaml-cpp throws InvalidNode from IsScalar()/IsMap() on the node that a lookup of a missing key
// returns; IsDefined() is the one safe question to ask it first.
bool Absent(const YAML::Node& node) { return !node.IsDefined() || node.IsNull(); }
bool IsScalarNode(const YAML::Node& node) { return node.IsDefined() && node.IsScalar(); }
bool IsMapNode(const YAML::Node& node) { return node.IsDefined() && node.IsMap(); }

std::string ScalarOr(const YAML::Node& node, std::string fallback = "") {
  return IsScalarNode(node) ? node.Scalar() : fallback;
}

Result<std::vector<Flavor>> ReadFlavors(const YAML::Node& node) {
  std::vector<Flavor> flavors;
  if (Absent(node)) return flavors;
  if (!node.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                "'flavors' must be a mapping of flavor name to its settings "
                "(e.g. python_function: {loader_module: mlflow.sklearn}), found " +
                    KindOf(node));
  }
  for (const auto& item : node) {
    if (!item.first.IsScalar()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "'flavors' has a key that is " + KindOf(item.first) + ", not a flavor name");
    }
    Flavor flavor{item.first.Scalar(), {}};
    const YAML::Node& settings = item.second;
    if (!Absent(settings) && !settings.IsMap()) {
      return Fail(ErrorCode::kInvalidArgument, "flavor " + Quote(flavor.name) +
                                                   " must be a mapping of its settings, found " +
                                                   KindOf(settings));
    }
    if (settings.IsMap()) {
      for (const char* key : {"pickled_model", "data", "model_path", "env"}) {
        const YAML::Node value = settings[key];
        if (IsScalarNode(value) && !value.Scalar().empty()) {
          flavor.files.emplace_back(key, value.Scalar());
        } else if (IsMapNode(value)) {  // env: {conda: conda.yaml, virtualenv: python_env.yaml}
          for (const auto& entry : value) {
            if (entry.first.IsScalar() && entry.second.IsScalar() &&
                !entry.second.Scalar().empty()) {
              flavor.files.emplace_back(std::string(key) + "." + entry.first.Scalar(),
                                        entry.second.Scalar());
            }
          }
        }
      }
    }
    flavors.push_back(std::move(flavor));
  }
  return flavors;
}

Result<std::optional<SignatureText>> ReadSignature(const YAML::Node& node) {
  if (Absent(node)) return std::optional<SignatureText>{};
  if (!node.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                "'signature' must be a mapping with 'inputs' and 'outputs', found " + KindOf(node));
  }
  SignatureText text;
  const std::array<std::pair<const char*, std::optional<std::string>*>, 3> fields = {
      {{"inputs", &text.inputs}, {"outputs", &text.outputs}, {"params", &text.params}}};
  for (const auto& [key, slot] : fields) {
    const YAML::Node value = node[key];
    if (Absent(value)) continue;
    if (!value.IsScalar()) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string("signature.") + key +
                      " must be a JSON string such as '[{\"name\": \"x\", \"type\": \"double\"}]', "
                      "found " +
                      KindOf(value));
    }
    *slot = value.Scalar();
  }
  return std::optional<SignatureText>{std::move(text)};
}

Result<std::optional<InputExampleInfo>> ReadInputExampleInfo(const YAML::Node& node) {
  if (Absent(node)) return std::optional<InputExampleInfo>{};
  if (!node.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                "'saved_input_example_info' must be a mapping with artifact_path and type, found " +
                    KindOf(node));
  }
  const YAML::Node path = node["artifact_path"];
  if (!IsScalarNode(path) || path.Scalar().empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "saved_input_example_info.artifact_path must name the example file "
                "(e.g. input_example.json), found " +
                    KindOf(path));
  }
  InputExampleInfo info;
  info.artifact_path = path.Scalar();
  info.type = ScalarOr(node["type"]);
  info.pandas_orient = ScalarOr(node["pandas_orient"]);
  return std::optional<InputExampleInfo>{std::move(info)};
}

Result<std::map<std::string, std::string>> ReadMetadata(const YAML::Node& node) {
  std::map<std::string, std::string> metadata;
  if (Absent(node)) return metadata;
  if (!node.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                "'metadata' must be a mapping of tag names to values, found " + KindOf(node));
  }
  for (const auto& item : node) {
    if (!item.first.IsScalar()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "'metadata' has a key that is " + KindOf(item.first) + ", not a tag name");
    }
    const YAML::Node& value = item.second;
    metadata[item.first.Scalar()] = value.IsSequence() ? "<list>"
                                    : value.IsMap()    ? "<mapping>"
                                                       : ScalarOr(value);
  }
  return metadata;
}

// ---- JSON ----

std::string JsonError(const Json::exception& e) {
  // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
  std::string what = e.what();
  const auto close = what.find("] ");
  return close == std::string::npos ? what : what.substr(close + 2);
}

std::string Describe(const Json& value) {
  // Containers are named, never dumped: they may be large or deeply nested.
  if (value.is_array()) return "a list";
  if (value.is_object()) return "an object";
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  if (value.is_string()) return "the string " + text;
  if (value.is_boolean()) return "the boolean " + text;
  if (value.is_number_integer()) return "the integer " + text;
  if (value.is_number()) return "the number " + text;
  return text;  // null, binary
}

// Why `value` does not fit a column of `type`, or nothing when it does. Null is handled by the
// caller (allowed for optional columns only).
std::optional<std::string> TypeProblem(const Json& value, const std::string& type) {
  bool ok = true;
  std::string expected = type;
  if (type == "long" || type == "integer") {
    expected += " (an integer)";
    ok = value.is_number_integer();
    if (ok && type == "integer") {
      expected = "integer (a 32-bit integer)";
      if (value.is_number_unsigned()) {
        ok = value.get<std::uint64_t>() <=
             static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max());
      } else {
        const auto v = value.get<std::int64_t>();
        ok = v >= std::numeric_limits<std::int32_t>::min() &&
             v <= std::numeric_limits<std::int32_t>::max();
      }
    }
  } else if (type == "double" || type == "float") {
    expected += " (a number)";
    ok = value.is_number();
  } else if (type == "string") {
    ok = value.is_string();
  } else if (type == "boolean") {
    expected += " (true or false)";
    ok = value.is_boolean();
  } else if (type == "binary") {
    expected += " (a base64 string)";
    ok = value.is_string();
  } else if (type == "datetime") {
    expected += " (a date string or epoch number)";
    ok = value.is_string() || value.is_number_integer();
  } else if (type == "array") {
    expected += " (a list)";
    ok = value.is_array();
  } else if (type == "object" || type == "map") {
    expected += " (an object)";
    ok = value.is_object();
  }  // "any" and tensors take anything
  if (ok) return std::nullopt;
  return "expected " + expected + ", found " + Describe(value);
}

Result<ColumnSpec> ParseColumn(const Json& entry, const std::string& where) {
  if (!entry.is_object()) {
    return Fail(ErrorCode::kInvalidArgument,
                where + " must be an object with a \"type\", found " + Describe(entry));
  }
  ColumnSpec column;
  if (const auto name = entry.find("name"); name != entry.end() && !name->is_null()) {
    if (!name->is_string()) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": \"name\" must be a string, found " + Describe(*name));
    }
    column.name = name->get<std::string>();
  }
  const std::string label = column.name ? where + " (" + Quote(*column.name) + ")" : where;
  const auto type = entry.find("type");
  if (type == entry.end() || !type->is_string()) {
    return Fail(ErrorCode::kInvalidArgument, label + " has no \"type\" string");
  }
  column.type = type->get<std::string>();
  if (column.type == "tensor") {
    const auto spec = entry.find("tensor-spec");
    if (spec == entry.end() || !spec->is_object() || !spec->contains("dtype") ||
        !(*spec)["dtype"].is_string()) {
      return Fail(ErrorCode::kInvalidArgument,
                  label + " is a tensor without a \"tensor-spec\" object holding a \"dtype\"");
    }
    if (const auto shape = spec->find("shape"); shape != spec->end()) {
      const bool integers =
          shape->is_array() && std::all_of(shape->begin(), shape->end(),
                                           [](const Json& d) { return d.is_number_integer(); });
      if (!integers) {
        return Fail(ErrorCode::kInvalidArgument,
                    label + ": tensor-spec \"shape\" must be a list of integers (-1 for any size)");
      }
    }
  } else if (!IsKnownType(column.type)) {
    return Fail(ErrorCode::kInvalidArgument, label + " has unknown type " + Quote(column.type) +
                                                 " (known: " + KnownTypes() + ")");
  }
  for (const char* flag : {"required", "optional"}) {
    if (const auto value = entry.find(flag); value != entry.end()) {
      if (!value->is_boolean()) {
        return Fail(ErrorCode::kInvalidArgument,
                    label + ": \"" + flag + "\" must be true or false, found " + Describe(*value));
      }
      // "optional" is the older spelling, deprecated in favour of "required".
      column.required =
          std::string_view(flag) == "required" ? value->get<bool>() : !value->get<bool>();
    }
  }
  return column;
}

Result<Json> ParseJsonText(std::string_view text, const std::string& what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, what + " is not valid JSON: " + JsonError(e));
  }
}

// signature.params: [{"name": ..., "type": <scalar type>, "default": ..., "shape": null|[...]}]
Result<void> CheckParamsJson(std::string_view text) {
  auto parsed = ParseJsonText(text, "signature params");
  if (!parsed) return tl::unexpected(parsed.error());
  if (!parsed->is_array()) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "signature params must be a JSON list of parameter specs, found " + Describe(*parsed));
  }
  std::size_t index = 0;
  for (const auto& entry : *parsed) {
    const std::string where = "signature params entry " + std::to_string(++index);
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
        !entry.contains("type") || !entry["type"].is_string()) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + " must be an object with \"name\" and \"type\" strings");
    }
    const auto type = entry["type"].get<std::string>();
    if (!IsScalarType(type)) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + " (" + Quote(entry["name"].get<std::string>()) + ") has unknown type " +
                      Quote(type) + " (known: " +
                      Join(std::vector<std::string>(kScalarTypes.begin(), kScalarTypes.end())) +
                      ")");
    }
  }
  return {};
}

// ---- Files ----

bool Inside(const fs::path& root, const fs::path& path) {
  const auto [r, p] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return r == root.end();
}

// The canonical path of `rel` inside the canonical `root`, refusing anything that leaves it.
Result<fs::path> ResolveInside(const fs::path& root, const std::string& rel) {
  const fs::path relative(rel);
  if (rel.empty() || relative.is_absolute()) {
    return Fail(ErrorCode::kInvalidArgument,
                Quote(rel) + " must be a path relative to the model directory");
  }
  const fs::path joined = root / relative;
  std::error_code ec;
  const auto link = fs::symlink_status(joined, ec);
  if (ec || !fs::exists(link)) {
    return Fail(ErrorCode::kNotFound, Quote(rel) + " does not exist");
  }
  const fs::path resolved = fs::canonical(joined, ec);
  if (ec) {
    return Fail(ErrorCode::kNotFound, fs::is_symlink(link)
                                          ? Quote(rel) + " is a symlink to a missing target"
                                          : Quote(rel) + " cannot be resolved: " + ec.message());
  }
  if (!Inside(root, resolved)) {
    return Fail(ErrorCode::kInvalidArgument,
                Quote(rel) + " leads outside the model directory; it was not followed");
  }
  return resolved;
}

// Reads a regular file of at most `limit` bytes (`rel` names it in messages).
Result<std::string> ReadSmallFile(const fs::path& path, const std::string& rel,
                                  std::uint64_t limit) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::is_regular_file(status)) {
    return Fail(ErrorCode::kInvalidArgument, Quote(rel) + " is not a regular file");
  }
  const auto size = fs::file_size(path, ec);
  if (ec) return Fail(ErrorCode::kInvalidArgument, Quote(rel) + ": " + ec.message());
  if (size > limit) {
    return Fail(ErrorCode::kTooLarge, Quote(rel) + " is " + FormatBytes(size) +
                                          ", over the limit of " + FormatBytes(limit) +
                                          " for a file read into memory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    return Fail(ErrorCode::kInvalidArgument,
                Quote(rel) + " cannot be read (" + std::strerror(error) +
                    "); make it readable by the user running stagegate");
  }
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) {
    return Fail(ErrorCode::kInvalidArgument, Quote(rel) + " could not be read to the end");
  }
  return text;
}

struct Walk {
  std::uint64_t total_bytes = 0;
  std::size_t files = 0;
  std::string biggest;  // relative path
  std::uint64_t biggest_bytes = 0;
  Problems oversized;  // "path (size)"
  Problems problems;
  bool complete = true;
};

std::string TypeName(fs::file_type type) {
  switch (type) {
    case fs::file_type::fifo:
      return "a named pipe";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::character:
      return "a character device";
    default:
      return "not a regular file";
  }
}

// Walks the tree without following symlinks; an unreadable directory is reported and skipped.
Walk WalkDirectory(const fs::path& root, const ValidateOptions& options) {
  Walk walk;
  std::vector<fs::path> pending = {root};
  std::size_t entries = 0;
  while (!pending.empty()) {
    const fs::path dir = std::move(pending.back());
    pending.pop_back();
    const std::string dir_rel = dir == root ? "." : dir.lexically_relative(root).string();
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      walk.problems.Add("directory " + Quote(dir_rel) + " cannot be listed (" + ec.message() +
                        "); make it readable");
      walk.complete = false;
      continue;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (++entries > options.max_entries) {
        walk.problems.Add("more than " + std::to_string(options.max_entries) +
                          " files and directories; the rest was not checked");
        walk.complete = false;
        return walk;
      }
      const fs::path path = it->path();
      const std::string rel = path.lexically_relative(root).string();
      std::error_code entry_ec;
      const auto link = fs::symlink_status(path, entry_ec);
      if (entry_ec) {
        walk.problems.Add(Quote(rel) + " cannot be inspected (" + entry_ec.message() + ")");
        continue;
      }
      if (fs::is_symlink(link)) {
        const auto target = fs::read_symlink(path, entry_ec);
        const std::string shown = entry_ec ? "?" : target.string();
        const auto resolved = fs::canonical(path, entry_ec);
        if (entry_ec) {
          walk.problems.Add("symlink " + Quote(rel) + " -> " + Quote(shown) +
                            " points to nothing; remove it or copy the file in");
        } else if (!Inside(root, resolved)) {
          walk.problems.Add("symlink " + Quote(rel) + " -> " + Quote(shown) +
                            " leads outside the model directory (not followed); copy the "
                            "file into the directory instead");
        }
        continue;  // links inside the directory count once, as their targets
      }
      if (fs::is_directory(link)) {
        if (::access(path.c_str(), R_OK | X_OK) != 0) {
          const int error = errno;
          walk.problems.Add("directory " + Quote(rel) + " cannot be listed (" +
                            std::strerror(error) + "); make it readable");
          walk.complete = false;
          continue;
        }
        pending.push_back(path);
        continue;
      }
      if (!fs::is_regular_file(link)) {
        walk.problems.Add(Quote(rel) + " is " + TypeName(link.type()) +
                          "; a model directory holds only files and directories");
        continue;
      }
      if (::access(path.c_str(), R_OK) != 0) {
        const int error = errno;
        walk.problems.Add(Quote(rel) + " cannot be read (" + std::strerror(error) +
                          "); make it readable");
      }
      const auto size = fs::file_size(path, entry_ec);
      if (entry_ec) {
        walk.problems.Add(Quote(rel) + ": size unknown (" + entry_ec.message() + ")");
        continue;
      }
      ++walk.files;
      walk.total_bytes += size;
      if (size > walk.biggest_bytes || walk.biggest.empty()) {
        walk.biggest = rel;
        walk.biggest_bytes = size;
      }
      if (size > options.max_file_bytes) {
        walk.oversized.Add(Quote(rel) + " (" + FormatBytes(size) + ")");
      }
    }
    if (ec) {
      walk.problems.Add("directory " + Quote(dir_rel) + " could not be listed to the end (" +
                        ec.message() + ")");
      walk.complete = false;
    }
  }
  return walk;
}

// Lines that are neither blank nor comments.
std::size_t MeaningfulLines(const std::string& text) {
  std::size_t count = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = std::min(text.find('\n', start), text.size());
    const auto line = std::string_view(text).substr(start, end - start);
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#') ++count;
    start = end + 1;
  }
  return count;
}

// ---- Input examples ----

// One value of a row: by column name (records, or split with a header against a named schema)
// or by position (values, or split otherwise).
struct Cell {
  std::optional<std::string> name;
  std::size_t position = 0;
  const Json* value = nullptr;
};
using Row = std::vector<Cell>;

std::string RowLabel(std::size_t index) { return "row " + std::to_string(index + 1); }

bool Named(const SchemaSpec& schema) {
  return !schema.columns.empty() && schema.columns.front().name.has_value();
}

// The schema column a cell belongs to, if any.
const ColumnSpec* ColumnOf(const SchemaSpec& schema, const Cell& cell) {
  if (cell.name) {
    if (!Named(schema)) return nullptr;
    for (const auto& column : schema.columns) {
      if (*column.name == *cell.name) return &column;
    }
    return nullptr;
  }
  return cell.position < schema.columns.size() ? &schema.columns[cell.position] : nullptr;
}

std::string ColumnLabel(const SchemaSpec& schema, std::size_t position) {
  const auto& column = schema.columns[position];
  return column.name ? "column " + Quote(*column.name) : "column " + std::to_string(position + 1);
}

void CheckRow(const Row& row, std::size_t index, const SchemaSpec& schema, bool check_presence,
              Problems& problems, std::set<std::string>& unknown) {
  std::vector<const Json*> values(schema.columns.size(), nullptr);
  for (const auto& cell : row) {
    const ColumnSpec* column = ColumnOf(schema, cell);
    if (column == nullptr) {
      const std::string label =
          cell.name ? "column " + Quote(*cell.name) : "column " + std::to_string(cell.position + 1);
      if (unknown.insert(label).second) {
        problems.Add(label + " is not in the signature (it lists " +
                     std::to_string(schema.columns.size()) + " columns)");
      }
      continue;
    }
    values[static_cast<std::size_t>(column - schema.columns.data())] = cell.value;
  }
  for (std::size_t i = 0; i < schema.columns.size(); ++i) {
    const ColumnSpec& column = schema.columns[i];
    const std::string label = ColumnLabel(schema, i);
    if (values[i] == nullptr) {
      if (check_presence && column.required) {
        problems.Add(RowLabel(index) + ": required " + label + " is missing");
      }
      continue;
    }
    if (values[i]->is_null()) {
      if (column.required) problems.Add(RowLabel(index) + ": required " + label + " is null");
      continue;
    }
    if (auto problem = TypeProblem(*values[i], column.type)) {
      problems.Add(RowLabel(index) + ", " + label + ": " + *problem);
    }
  }
}

}  // namespace

// ---- Public API ----

bool ValidationReport::passed() const {
  return std::all_of(checks.begin(), checks.end(), [](const CheckResult& c) { return c.passed; });
}

Result<Mlmodel> ParseMlmodel(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, "MLmodel is not valid YAML (line " +
                                                 std::to_string(e.mark.line + 1) + ", column " +
                                                 std::to_string(e.mark.column + 1) + "): " + e.msg);
  }
  if (!root.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                "MLmodel must be a YAML mapping with keys such as flavors and signature, found " +
                    KindOf(root));
  }
  try {
    const YAML::Node& doc = root;
    Mlmodel model;
    model.artifact_path = ScalarOr(doc["artifact_path"]);
    model.model_uuid = ScalarOr(doc["model_uuid"]);
    model.run_id = ScalarOr(doc["run_id"]);
    model.mlflow_version = ScalarOr(doc["mlflow_version"]);
    model.utc_time_created = ScalarOr(doc["utc_time_created"]);
    model.flavors = ReadFlavors(doc["flavors"]);
    model.signature = ReadSignature(doc["signature"]);
    model.input_example = ReadInputExampleInfo(doc["saved_input_example_info"]);
    model.metadata = ReadMetadata(doc["metadata"]);
    return model;
  } catch (const YAML::Exception& e) {  // defensive: the readers check kinds before access
    return Fail(ErrorCode::kInvalidArgument, "MLmodel could not be read: " + e.msg);
  }
}

Result<SchemaSpec> ParseSchemaJson(std::string_view json_text, std::string_view what) {
  const std::string where(what);
  auto parsed = ParseJsonText(json_text, where);
  if (!parsed) return tl::unexpected(parsed.error());
  if (!parsed->is_array()) {
    return Fail(
        ErrorCode::kInvalidArgument,
        where + " must be a JSON list of column or tensor specs, found " + Describe(*parsed));
  }
  SchemaSpec schema;
  std::set<std::string> names;
  std::size_t index = 0;
  for (const auto& entry : *parsed) {
    auto column = ParseColumn(entry, where + " entry " + std::to_string(++index));
    if (!column) return tl::unexpected(column.error());
    const bool tensor = column->type == "tensor";
    if (index > 1 && tensor != schema.tensor) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + " mixes column and tensor specs; use one kind only");
    }
    schema.tensor = tensor;
    if (index > 1 && column->name.has_value() != schema.columns.front().name.has_value()) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + " mixes named and unnamed entries; name all of them or none");
    }
    if (column->name && !names.insert(*column->name).second) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + " lists the column " + Quote(*column->name) + " twice");
    }
    schema.columns.push_back(std::move(*column));
  }
  return schema;
}

ExampleCheck CheckInputExample(std::string_view json_text, std::string_view orient,
                               const SchemaSpec& schema) {
  ExampleCheck result;
  Problems problems;
  auto parsed = ParseJsonText(json_text, "the input example");
  if (!parsed) {
    result.problems = {parsed.error().message};
    return result;
  }
  const Json* body = &*parsed;
  result.orient = std::string(orient);
  if (body->is_object() && body->size() == 1) {
    if (const auto split = body->find("dataframe_split"); split != body->end()) {
      body = &*split;
      result.orient = "split";
    } else if (const auto records = body->find("dataframe_records"); records != body->end()) {
      body = &*records;
      result.orient = "records";
    }
  }
  if (result.orient.empty()) {
    result.orient = body->is_object()                                                 ? "split"
                    : body->is_array() && !body->empty() && body->front().is_object() ? "records"
                                                                                      : "values";
  }

  std::vector<Row> rows;
  bool check_presence = true;  // false when the split header already reported missing columns
  const bool named = Named(schema);
  if (result.orient == "split") {
    if (!body->is_object() || !body->contains("data") || !(*body)["data"].is_array()) {
      result.problems = {
          "a split-orient example must be an object {\"columns\": [...], \"data\": [[...]]}, "
          "found " +
          Describe(*body)};
      return result;
    }
    std::vector<std::string> columns;
    if (const auto header = body->find("columns"); header != body->end()) {
      if (!header->is_array()) {
        result.problems = {"\"columns\" must be a list of column names"};
        return result;
      }
      for (const auto& name : *header) {
        columns.push_back(name.is_string() ? name.get<std::string>() : name.dump());
      }
    }
    const bool by_name = !columns.empty() && named;
    std::size_t index = 0;
    for (const auto& data_row : (*body)["data"]) {
      if (!data_row.is_array()) {
        problems.Add(RowLabel(index) + " must be a list of values, found " + Describe(data_row));
        ++index;
        continue;
      }
      if (!columns.empty() && data_row.size() != columns.size()) {
        problems.Add(RowLabel(index) + " has " + std::to_string(data_row.size()) + " values for " +
                     std::to_string(columns.size()) + " columns");
        ++index;
        continue;
      }
      Row row;
      for (std::size_t i = 0; i < data_row.size(); ++i) {
        row.push_back(by_name ? Cell{columns[i], i, &data_row[i]}
                              : Cell{std::nullopt, i, &data_row[i]});
      }
      rows.push_back(std::move(row));
      ++index;
    }
    result.rows = index;
    if (by_name) {  // report missing columns once, from the header
      for (const auto& column : schema.columns) {
        if (column.required &&
            std::find(columns.begin(), columns.end(), *column.name) == columns.end()) {
          problems.Add("required column " + Quote(*column.name) + " is missing");
        }
      }
      check_presence = false;
    }
  } else if (result.orient == "records") {
    if (!body->is_array()) {
      result.problems = {"a records-orient example must be a list of objects [{...}], found " +
                         Describe(*body)};
      return result;
    }
    std::size_t index = 0;
    for (const auto& record : *body) {
      if (!record.is_object()) {
        problems.Add(RowLabel(index++) + " must be an object of column values, found " +
                     Describe(record));
        continue;
      }
      Row row;
      for (const auto& [key, value] : record.items()) row.push_back(Cell{key, 0, &value});
      rows.push_back(std::move(row));
      ++index;
    }
    result.rows = index;
  } else if (result.orient == "values") {
    if (!body->is_array()) {
      result.problems = {"a values-orient example must be a list of rows [[...]], found " +
                         Describe(*body)};
      return result;
    }
    std::size_t index = 0;
    for (const auto& data_row : *body) {
      if (!data_row.is_array()) {
        problems.Add(RowLabel(index++) + " must be a list of values, found " + Describe(data_row));
        continue;
      }
      Row row;
      for (std::size_t i = 0; i < data_row.size(); ++i) {
        row.push_back(Cell{std::nullopt, i, &data_row[i]});
      }
      rows.push_back(std::move(row));
      ++index;
    }
    result.rows = index;
  } else {
    result.problems = {"pandas_orient " + Quote(result.orient) +
                       " is not understood (use split, records or values)"};
    return result;
  }

  if (result.rows == 0) problems.Add("the example has no rows");
  if (!schema.tensor && !schema.columns.empty()) {
    // Records keyed by name against an unnamed schema cannot be matched; say so once.
    std::set<std::string> unknown;
    if (!named && result.orient == "records") {
      problems.Add(
          "the signature's columns are unnamed, so records keyed by name cannot be matched to "
          "them");
    } else {
      for (std::size_t i = 0; i < rows.size(); ++i) {
        CheckRow(rows[i], i, schema, check_presence, problems, unknown);
      }
    }
  }
  result.problems = problems.Take();
  return result;
}

namespace {

// ---- The checks ----

constexpr std::string_view kNotChecked = "not checked: MLmodel could not be read";

CheckResult Pass(std::string name, std::string reason) {
  return CheckResult{std::move(name), true, std::move(reason)};
}
CheckResult Failed(std::string name, std::string reason) {
  return CheckResult{std::move(name), false, std::move(reason)};
}

CheckResult CheckFlavors(const Mlmodel& model, const fs::path& root,
                         const ValidateOptions& options) {
  if (!model.flavors) return Failed("flavors", "MLmodel: " + model.flavors.error().message);
  std::vector<std::string> declared;
  for (const auto& flavor : *model.flavors) declared.push_back(flavor.name);
  std::vector<std::string> problems;
  for (const auto& required : options.required_flavors) {
    if (std::find(declared.begin(), declared.end(), required) == declared.end()) {
      problems.push_back("MLmodel does not declare the required flavor " + Quote(required) +
                         " (it declares: " + (declared.empty() ? "none" : Join(declared)) + ")");
    }
  }
  for (const auto& flavor : *model.flavors) {
    for (const auto& [setting, rel] : flavor.files) {
      if (auto resolved = ResolveInside(root, rel); !resolved) {
        problems.push_back("flavor " + flavor.name + " " + setting + ": " +
                           resolved.error().message);
      }
    }
  }
  if (!problems.empty()) return Failed("flavors", Join(problems, "; "));
  if (declared.empty()) return Failed("flavors", "MLmodel declares no flavors");
  return Pass("flavors", "declared: " + Join(declared));
}

struct SignatureOutcome {
  CheckResult present, schema;
  std::optional<SchemaSpec> inputs;
};

SignatureOutcome CheckSignature(const Mlmodel& model, const ValidateOptions& options) {
  SignatureOutcome out;
  if (!model.signature) {
    out.present = Failed("signature", "MLmodel: " + model.signature.error().message);
    out.schema = Failed("signature_schema", "not checked: the signature could not be read");
    return out;
  }
  const auto& signature = *model.signature;
  if (!signature.has_value() || (!signature->inputs && !signature->outputs)) {
    const std::string what = signature.has_value() ? "the signature has neither inputs nor outputs"
                                                   : "MLmodel has no signature";
    out.present = options.require_signature
                      ? Failed("signature", what +
                                                "; log the model with a signature "
                                                "(infer_signature or an input example)")
                      : Pass("signature",
                             "no signature (warning: " + what + ", so inputs cannot be checked)");
    out.schema = Pass("signature_schema", "no signature to check");
    return out;
  }
  std::vector<std::string> parts;
  if (signature->inputs) parts.push_back("inputs");
  if (signature->outputs) parts.push_back("outputs");
  if (signature->params) parts.push_back("params");
  out.present = Pass("signature", "declares " + Join(parts));

  std::vector<std::string> problems;
  std::vector<std::string> summary;
  if (signature->inputs) {
    auto inputs = ParseSchemaJson(*signature->inputs, "signature inputs");
    if (!inputs) {
      problems.push_back(inputs.error().message);
    } else {
      summary.push_back(std::to_string(inputs->columns.size()) +
                        (inputs->tensor ? " input tensors" : " input columns"));
      out.inputs = std::move(*inputs);
    }
  }
  if (signature->outputs) {
    auto outputs = ParseSchemaJson(*signature->outputs, "signature outputs");
    if (!outputs) {
      problems.push_back(outputs.error().message);
    } else {
      summary.push_back(std::to_string(outputs->columns.size()) +
                        (outputs->tensor ? " output tensors" : " output columns"));
    }
  }
  if (signature->params) {
    if (auto params = CheckParamsJson(*signature->params); !params) {
      problems.push_back(params.error().message);
    }
  }
  out.schema = problems.empty() ? Pass("signature_schema", Join(summary))
                                : Failed("signature_schema", Join(problems, "; "));
  return out;
}

CheckResult CheckExample(const Mlmodel& model, const std::optional<SchemaSpec>& inputs,
                         bool signature_ok, const fs::path& root, const ValidateOptions& options) {
  if (!model.input_example) {
    return Failed("input_example", "MLmodel: " + model.input_example.error().message);
  }
  const auto& info = *model.input_example;
  if (!info) {
    return options.require_input_example
               ? Failed("input_example",
                        "MLmodel has no saved_input_example_info; log the model with an "
                        "input_example")
               : Pass("input_example", "no input example (not required)");
  }
  auto path = ResolveInside(root, info->artifact_path);
  if (!path) return Failed("input_example", "input example " + path.error().message);
  auto text = ReadSmallFile(*path, info->artifact_path, options.max_input_example_bytes);
  if (!text) return Failed("input_example", "input example " + text.error().message);

  const std::string file = Quote(info->artifact_path);
  if (!info->type.empty() && info->type != "dataframe") {
    // ndarray, json_object, sparse...: only the JSON itself is checked.
    auto parsed = ParseJsonText(*text, "input example " + file);
    if (!parsed) return Failed("input_example", parsed.error().message);
    return Pass("input_example", file + " is valid JSON (type " + Quote(info->type) +
                                     " is not checked column by column)");
  }
  const SchemaSpec schema = inputs.value_or(SchemaSpec{});
  const auto check = CheckInputExample(*text, info->pandas_orient, schema);
  if (!check.problems.empty()) {
    return Failed("input_example", file + ": " + Join(check.problems, "; "));
  }
  std::string reason = file + ": " + std::to_string(check.rows) + " row" +
                       (check.rows == 1 ? "" : "s") + " (" + check.orient + " orient)";
  if (inputs && inputs->tensor) {
    reason += " read; the tensor signature is not checked column by column";
  } else if (inputs) {
    reason += " conform to the signature";
  } else {
    reason += signature_ok ? " read; no input signature to check them against"
                           : " read; not checked against the signature, which is invalid";
  }
  return Pass("input_example", reason);
}

CheckResult CheckRequirements(const fs::path& root) {
  std::vector<std::string> found;
  std::vector<std::string> notes;
  for (const char* name : {"requirements.txt", "conda.yaml", "python_env.yaml"}) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(root / name, ec))) continue;
    auto path = ResolveInside(root, name);
    if (!path) {
      notes.push_back(path.error().message);
      continue;
    }
    auto text = ReadSmallFile(*path, name, kMaxRequirementsBytes);
    if (!text) {
      notes.push_back(text.error().message);
      continue;
    }
    const auto lines = MeaningfulLines(*text);
    if (lines == 0) {
      notes.push_back(Quote(name) + " is empty");
      continue;
    }
    found.push_back(std::string(name) + " (" + std::to_string(lines) + " lines)");
  }
  if (!found.empty()) {
    return Pass("requirements",
                Join(found) + (notes.empty() ? "" : "; note: " + Join(notes, "; ")));
  }
  return Failed("requirements",
                "no requirements declared: add requirements.txt, conda.yaml or python_env.yaml "
                "listing the model's Python dependencies" +
                    (notes.empty() ? "" : " (" + Join(notes, "; ") + ")"));
}

std::pair<CheckResult, CheckResult> CheckFiles(const fs::path& root,
                                               const ValidateOptions& options) {
  Walk walk = WalkDirectory(root, options);
  const bool complete = walk.complete;
  CheckResult files = walk.problems.empty() ? Pass("files", std::to_string(walk.files) +
                                                                " files, no symlinks "
                                                                "leading out")
                                            : Failed("files", Join(walk.problems.Take(), "; "));

  std::string summary = (complete ? "" : "at least ") + FormatBytes(walk.total_bytes) + " in " +
                        std::to_string(walk.files) + " files";
  if (!walk.biggest.empty()) {
    summary += "; biggest: " + Quote(walk.biggest) + " (" + FormatBytes(walk.biggest_bytes) + ")";
  }
  std::vector<std::string> problems;
  if (walk.total_bytes > options.max_total_bytes) {
    problems.push_back("the directory holds " + FormatBytes(walk.total_bytes) +
                       ", over the limit of " + FormatBytes(options.max_total_bytes));
  }
  if (!walk.oversized.empty()) {
    problems.push_back("files over the per-file limit of " + FormatBytes(options.max_file_bytes) +
                       ": " + Join(walk.oversized.Take()));
  }
  CheckResult size = problems.empty() ? Pass("size", summary)
                                      : Failed("size", Join(problems, "; ") + " (" + summary + ")");
  return {std::move(files), std::move(size)};
}

CheckResult CheckMetadata(const Mlmodel& model, const ValidateOptions& options) {
  if (!model.metadata) return Failed("metadata", "MLmodel: " + model.metadata.error().message);
  std::vector<std::string> missing;
  std::vector<std::string> empty;
  for (const auto& key : options.required_metadata) {
    const auto found = model.metadata->find(key);
    if (found == model.metadata->end()) {
      missing.push_back(Quote(key));
    } else if (found->second.empty()) {
      empty.push_back(Quote(key));
    }
  }
  if (missing.empty() && empty.empty()) {
    return Pass("metadata", options.required_metadata.empty()
                                ? "no tags required"
                                : "has " + Join(options.required_metadata));
  }
  std::vector<std::string> problems;
  if (!missing.empty()) {
    problems.push_back("MLmodel metadata lacks the required tag" +
                       std::string(missing.size() == 1 ? " " : "s ") + Join(missing));
  }
  if (!empty.empty()) {
    problems.push_back("required tag" + std::string(empty.size() == 1 ? " " : "s ") + Join(empty) +
                       (empty.size() == 1 ? " is" : " are") + " empty");
  }
  return Failed("metadata", Join(problems, "; ") + "; add them under 'metadata:' in MLmodel");
}

void RunChecks(ValidationReport& report, const ValidateOptions& options) {
  const std::string& dir = report.path;
  std::error_code ec;
  const fs::path root = fs::canonical(fs::path(dir), ec);
  if (ec || !fs::is_directory(root, ec)) {
    const std::string reason =
        "the model directory " + Quote(dir) +
        (ec ? " cannot be opened (" + ec.message() + ")" : " is not a directory");
    for (const char* name : {"mlmodel", "flavors", "signature", "signature_schema", "input_example",
                             "requirements", "files", "size", "metadata"}) {
      report.checks.push_back(Failed(name, reason));
    }
    return;
  }

  std::optional<Mlmodel> model;
  {
    auto path = ResolveInside(root, "MLmodel");
    auto text = path ? ReadSmallFile(*path, "MLmodel", options.max_mlmodel_bytes)
                     : Result<std::string>(tl::unexpected(path.error()));
    if (!text) {
      const bool missing = text.error().code == ErrorCode::kNotFound;
      report.checks.push_back(Failed(
          "mlmodel", missing ? "no MLmodel file at the root of the model directory; is this the "
                               "directory MLflow saved (the one holding MLmodel)?"
                             : text.error().message));
    } else if (auto parsed = ParseMlmodel(*text); !parsed) {
      report.checks.push_back(Failed("mlmodel", parsed.error().message));
    } else {
      model = std::move(*parsed);
      std::string reason = "parsed";
      if (!model->mlflow_version.empty())
        reason += " (mlflow_version " + model->mlflow_version + ")";
      report.checks.push_back(Pass("mlmodel", reason));
    }
  }

  if (model) {
    report.checks.push_back(CheckFlavors(*model, root, options));
    auto signature = CheckSignature(*model, options);
    const bool signature_ok = signature.schema.passed;
    report.checks.push_back(std::move(signature.present));
    report.checks.push_back(std::move(signature.schema));
    report.checks.push_back(CheckExample(*model, signature.inputs, signature_ok, root, options));
  } else {
    for (const char* name : {"flavors", "signature", "signature_schema", "input_example"}) {
      report.checks.push_back(Failed(name, std::string(kNotChecked)));
    }
  }
  report.checks.push_back(CheckRequirements(root));
  auto [files, size] = CheckFiles(root, options);
  report.checks.push_back(std::move(files));
  report.checks.push_back(std::move(size));
  report.checks.push_back(model ? CheckMetadata(*model, options)
                                : Failed("metadata", std::string(kNotChecked)));
}

}  // namespace

ValidationReport ValidateModel(const std::string& dir, const ValidateOptions& options) {
  ValidationReport report;
  report.path = dir;
  try {
    RunChecks(report, options);
  } catch (const std::exception& e) {
    // Every parser above returns errors as values; reaching this is a bug (or memory
    // exhaustion), reported as a failed check rather than a crash of the action.
    report.checks.push_back(Failed("internal", std::string("validation stopped: ") + e.what()));
  }
  return report;
}

nlohmann::json ValidationReportJson(const ValidationReport& report) {
  Json checks = Json::array();
  for (const auto& check : report.checks) {
    checks.push_back({{"name", check.name}, {"passed", check.passed}, {"reason", check.reason}});
  }
  return {{"passed", report.passed()}, {"path", report.path}, {"checks", std::move(checks)}};
}

std::string ValidationReportText(const ValidationReport& report) {
  std::string out;
  for (const auto& check : report.checks) {
    out += check.passed ? "PASS " + check.name : "FAIL " + check.name + ": " + check.reason;
    out += '\n';
  }
  return out;
}

}  // namespace stagegate::ml
