#pragma once

// Automated checks of an MLflow model directory, behind `stagegate action validate-model`.
//
// The directory is untrusted input: every problem with it (a missing or malformed MLmodel, fields
// of the wrong type, huge files, symlinks leading out of the directory, unreadable files) comes
// back as a failed check with a reason naming the file and what to do. Nothing throws.
//
// The checks, always in this order (names as they appear in the report):
//   mlmodel           MLmodel exists at the root, is a regular file of at most
//                     max_mlmodel_bytes and parses as a YAML mapping.
//   flavors           every flavor of required_flavors is declared under `flavors`, and the files
//                     the flavors name (pickled_model, data, model_path, env) exist inside the
//                     directory.
//   signature         `signature` is present. When require_signature is off, a model without one
//                     passes with the reason "no signature (warning: ...)": the report has no
//                     separate warning level, so the note rides in the reason of a passing check.
//   signature_schema  signature.inputs/outputs/params are JSON strings of column specs (known
//                     types, unique names) or tensor specs (not both in one schema).
//   input_example     `saved_input_example_info` names a readable JSON file inside the directory
//                     (required when require_input_example is on) whose rows conform to a
//                     column-based input signature: required columns present and non-null, no
//                     columns the signature does not list, values of the declared type. The
//                     orients "split", "records" and "values" are understood, bare or wrapped as
//                     {"dataframe_split": ...} / {"dataframe_records": ...} (the MLflow serving
//                     request format).
//   requirements      requirements.txt, conda.yaml or python_env.yaml at the root with at least
//                     one line that is not blank or a comment.
//   files             no symlink leads out of the directory or dangles, no special files (pipes,
//                     sockets, devices), every subdirectory can be listed.
//   size              the directory holds at most max_total_bytes and no file exceeds
//                     max_file_bytes; the reason names the biggest file either way.
//   metadata          every key of required_metadata is in `metadata` with a non-empty value.
// A check that depends on MLmodel fails with "not checked: ..." when MLmodel could not be read.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "orchestrator/core/result.hpp"

namespace stagegate::ml {

struct CheckResult {
  std::string name;
  bool passed = false;
  std::string reason;  // why it failed, or what was found when it passed (may carry a warning)
};

struct ValidateOptions {
  std::vector<std::string> required_flavors = {"python_function"};
  bool require_signature = false;
  bool require_input_example = false;
  std::vector<std::string> required_metadata;  // keys that must be present in `metadata`
  std::uint64_t max_total_bytes = std::uint64_t{2} << 30U;           // 2 GiB
  std::uint64_t max_file_bytes = std::uint64_t{2} << 30U;            // 2 GiB
  std::uint64_t max_mlmodel_bytes = std::uint64_t{1} << 20U;         // MLmodel is read into memory
  std::uint64_t max_input_example_bytes = std::uint64_t{16} << 20U;  // so is the input example
  std::size_t max_entries = 100000;  // files and directories walked before giving up
};

struct ValidationReport {
  std::string path;
  std::vector<CheckResult> checks;

  bool passed() const;
};

/// Runs every check on the model directory `dir`. Never throws for anything the directory holds.
ValidationReport ValidateModel(const std::string& dir, const ValidateOptions& options);

/// JSON schema:
///   {"passed": bool, "path": string,
///    "checks": [{"name": string, "passed": bool, "reason": string}, ...]}
/// with the checks in the fixed order listed at the top of this header.
nlohmann::json ValidationReportJson(const ValidationReport& report);

/// One line per check: "PASS name" or "FAIL name: reason", each ending in '\n'.
std::string ValidationReportText(const ValidationReport& report);

// ---- The parsers behind the checks, exposed for tests and the fuzzer. All are pure. ----

/// One column (or tensor) of a signature schema.
struct ColumnSpec {
  std::optional<std::string> name;  // unnamed columns are positional
  std::string type;                 // "double", "long", ...; "tensor" for tensor specs
  bool required = true;
};

struct SchemaSpec {
  bool tensor = false;  // tensor specs: the example is not checked column by column
  std::vector<ColumnSpec> columns;
};

/// The parts of MLmodel the checks use, read without interpretation. A field that is present
/// but has the wrong shape is an error value in its own slot, so that one bad field fails its
/// own check and leaves the others intact.
struct SignatureText {
  std::optional<std::string> inputs, outputs, params;  // the JSON strings as written
};

struct InputExampleInfo {
  std::string artifact_path;  // relative to the model directory
  std::string type;           // "dataframe", "ndarray", ...; may be empty
  std::string pandas_orient;  // "split", "records", "values"; empty when not given
};

struct Flavor {
  std::string name;
  // Files the flavor's settings point at, as (setting, relative path): pickled_model, data,
  // model_path and env (a path, or {conda: ..., virtualenv: ...} read as env.conda, ...).
  std::vector<std::pair<std::string, std::string>> files;
};

struct Mlmodel {
  std::string artifact_path, model_uuid, run_id, mlflow_version, utc_time_created;
  Result<std::vector<Flavor>> flavors = std::vector<Flavor>{};  // in file order
  Result<std::optional<SignatureText>> signature = std::nullopt;
  Result<std::optional<InputExampleInfo>> input_example = std::nullopt;
  // Scalar values as written; a list or mapping value is "<list>" / "<mapping>"; null is "".
  Result<std::map<std::string, std::string>> metadata = std::map<std::string, std::string>{};
};

/// Parses the text of an MLmodel file. Fails (kInvalidArgument) only when the text is not YAML
/// or not a mapping; problems inside fields land in the field's own Result.
Result<Mlmodel> ParseMlmodel(std::string_view text);

/// Parses one signature entry (the JSON string of `inputs`, `outputs` or `params`). `what` names
/// it in messages ("signature inputs").
Result<SchemaSpec> ParseSchemaJson(std::string_view json_text, std::string_view what);

struct ExampleCheck {
  std::string orient;  // the orient actually read: "split", "records" or "values"
  std::size_t rows = 0;
  // At most a handful, each naming the row and column, the last one saying how many more there
  // were; empty when the example conforms.
  std::vector<std::string> problems;
};

/// Checks an input example's JSON text against a schema. `orient` is the pandas_orient from
/// MLmodel (empty: guessed from the shape; a {"dataframe_split": ...} or {"dataframe_records":
/// ...} wrapper decides it). Column checks apply to named or positional column schemas; a tensor
/// schema or an empty one (no signature) checks only the shape.
ExampleCheck CheckInputExample(std::string_view json_text, std::string_view orient,
                               const SchemaSpec& schema);

}  // namespace stagegate::ml
