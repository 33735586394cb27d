#include "ml/validate_model.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace stagegate::ml {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kOrder = {
    "mlmodel",      "flavors", "signature", "signature_schema", "input_example",
    "requirements", "files",   "size",      "metadata"};

::testing::AssertionResult Has(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\"\n  does not contain\n\"" << part << "\"";
}

std::string Fixture(const std::string& name) {
  return std::string(SG_TEST_DATA_DIR) + "/ml/models/" + name;
}

std::vector<std::string> Names(const ValidationReport& report) {
  std::vector<std::string> names;
  for (const auto& check : report.checks) names.push_back(check.name);
  return names;
}

const CheckResult& Check(const ValidationReport& report, const std::string& name) {
  const auto found = std::find_if(report.checks.begin(), report.checks.end(),
                                  [&](const CheckResult& c) { return c.name == name; });
  if (found == report.checks.end()) {
    static const CheckResult kMissing{"<missing>", false, "check not in report"};
    ADD_FAILURE() << "no check named " << name;
    return kMissing;
  }
  return *found;
}

std::vector<std::string> Failing(const ValidationReport& report) {
  std::vector<std::string> names;
  for (const auto& check : report.checks) {
    if (!check.passed) names.push_back(check.name);
  }
  return names;
}

// A private copy of a fixture (or an empty directory) that the test may change.
class TempModel final {
 public:
  explicit TempModel(const std::string& fixture = "") {
    std::string pattern = (fs::temp_directory_path() / "sg_validate_XXXXXX").string();
    base_ = mkdtemp(pattern.data());
    dir_ = base_ / "model";
    if (fixture.empty()) {
      fs::create_directory(dir_);
    } else {
      fs::copy(Fixture(fixture), dir_, fs::copy_options::recursive);
    }
  }
  ~TempModel() {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(base_, ec);
  }
  TempModel(const TempModel&) = delete;
  TempModel& operator=(const TempModel&) = delete;

  const fs::path& dir() const { return dir_; }
  const fs::path& outside() const { return base_; }  // the parent: not part of the model
  void Write(const std::string& rel, const std::string& text) const {
    std::ofstream(dir_ / rel, std::ios::binary | std::ios::trunc) << text;
  }

 private:
  fs::path base_;
  fs::path dir_;
};

// ---- The fixtures ----

TEST(ValidateModel, GoodSplitModelPassesEveryCheckInOrder) {
  const auto report = ValidateModel(Fixture("sklearn_split"), ValidateOptions{});
  EXPECT_EQ(Names(report), kOrder);
  EXPECT_TRUE(report.passed()) << ValidationReportText(report);
  EXPECT_EQ(Check(report, "mlmodel").reason, "parsed (mlflow_version 2.9.2)");
  EXPECT_EQ(Check(report, "flavors").reason, "declared: python_function, sklearn");
  EXPECT_EQ(Check(report, "signature").reason, "declares inputs, outputs");
  EXPECT_EQ(Check(report, "signature_schema").reason, "4 input columns, 1 output columns");
  EXPECT_EQ(Check(report, "input_example").reason,
            "'input_example.json': 2 rows (split orient) conform to the signature");
  EXPECT_EQ(Check(report, "requirements").reason,
            "requirements.txt (3 lines), conda.yaml (9 lines), python_env.yaml (5 lines)");
  EXPECT_EQ(Check(report, "files").reason, "6 files, no symlinks leading out");
  EXPECT_TRUE(Has(Check(report, "size").reason, "in 6 files; biggest: 'MLmodel' ("));
  EXPECT_EQ(Check(report, "metadata").reason, "no tags required");
}

TEST(ValidateModel, RecordsOrientExampleConforms) {
  const auto report = ValidateModel(Fixture("sklearn_records"), ValidateOptions{});
  EXPECT_TRUE(report.passed()) << ValidationReportText(report);
  EXPECT_EQ(Check(report, "input_example").reason,
            "'input_example.json': 2 rows (records orient) conform to the signature");
  EXPECT_EQ(Check(report, "requirements").reason, "conda.yaml (9 lines)");
}

TEST(ValidateModel, MissingSignatureIsAWarningUnlessRequired) {
  const auto lenient = ValidateModel(Fixture("no_signature"), ValidateOptions{});
  EXPECT_TRUE(lenient.passed()) << ValidationReportText(lenient);
  EXPECT_EQ(Check(lenient, "signature").reason,
            "no signature (warning: MLmodel has no signature, so inputs cannot be checked)");
  EXPECT_EQ(Check(lenient, "signature_schema").reason, "no signature to check");
  EXPECT_EQ(Check(lenient, "input_example").reason, "no input example (not required)");

  ValidateOptions strict;
  strict.require_signature = true;
  strict.require_input_example = true;
  const auto report = ValidateModel(Fixture("no_signature"), strict);
  EXPECT_EQ(Failing(report), (std::vector<std::string>{"signature", "input_example"}));
  EXPECT_TRUE(Has(Check(report, "signature").reason, "MLmodel has no signature; log the"));
  EXPECT_TRUE(
      Has(Check(report, "input_example").reason, "MLmodel has no saved_input_example_info"));
}

TEST(ValidateModel, BadInputExampleNamesMissingColumnAndWrongTypes) {
  const auto report = ValidateModel(Fixture("bad_input_example"), ValidateOptions{});
  EXPECT_EQ(Failing(report), std::vector<std::string>{"input_example"});
  const std::string& reason = Check(report, "input_example").reason;
  EXPECT_TRUE(Has(reason, "'input_example.json': "));
  EXPECT_TRUE(Has(reason, "required column 'merchant_id' is missing"));
  EXPECT_TRUE(Has(reason,
                  "row 1, column 'card_present': expected boolean (true or false), "
                  "found the string \"yes\""));
  EXPECT_TRUE(Has(reason,
                  "row 2, column 'amount': expected double (a number), found the string "
                  "\"3.20\""));
  // The {"dataframe_split": ...} wrapper is understood, so the row problems are reported.
  EXPECT_EQ(reason.find("split-orient example must be"), std::string::npos);
}

TEST(ValidateModel, RequirementsOnlyCommentsFail) {
  const auto report = ValidateModel(Fixture("no_requirements"), ValidateOptions{});
  EXPECT_EQ(Failing(report), std::vector<std::string>{"requirements"});
  EXPECT_EQ(Check(report, "requirements").reason,
            "no requirements declared: add requirements.txt, conda.yaml or python_env.yaml "
            "listing the model's Python dependencies ('requirements.txt' is empty)");
}

TEST(ValidateModel, RequiredFlavorsAreConfigurable) {
  const auto report = ValidateModel(Fixture("no_pyfunc"), ValidateOptions{});
  EXPECT_EQ(Failing(report), std::vector<std::string>{"flavors"});
  EXPECT_EQ(Check(report, "flavors").reason,
            "MLmodel does not declare the required flavor 'python_function' (it declares: "
            "sklearn)");

  ValidateOptions sklearn_only;
  sklearn_only.required_flavors = {"sklearn"};
  EXPECT_TRUE(ValidateModel(Fixture("no_pyfunc"), sklearn_only).passed());

  ValidateOptions both;
  both.required_flavors = {"sklearn", "onnx"};
  const auto missing_onnx = ValidateModel(Fixture("sklearn_split"), both);
  EXPECT_EQ(Check(missing_onnx, "flavors").reason,
            "MLmodel does not declare the required flavor 'onnx' (it declares: python_function, "
            "sklearn)");
}

TEST(ValidateModel, MalformedYamlFailsAndSkipsDependentChecks) {
  const auto report = ValidateModel(Fixture("malformed_yaml"), ValidateOptions{});
  EXPECT_EQ(Names(report), kOrder);
  EXPECT_FALSE(report.passed());
  EXPECT_TRUE(Has(Check(report, "mlmodel").reason, "MLmodel is not valid YAML (line "));
  for (const char* name :
       {"flavors", "signature", "signature_schema", "input_example", "metadata"}) {
    EXPECT_FALSE(Check(report, name).passed) << name;
    EXPECT_EQ(Check(report, name).reason, "not checked: MLmodel could not be read") << name;
  }
  // Checks that do not need MLmodel still run.
  EXPECT_TRUE(Check(report, "requirements").passed);
  EXPECT_TRUE(Check(report, "size").passed);
}

TEST(ValidateModel, UnknownSignatureTypeIsNamed) {
  const auto report = ValidateModel(Fixture("unknown_type"), ValidateOptions{});
  EXPECT_EQ(Failing(report), std::vector<std::string>{"signature_schema"});
  EXPECT_TRUE(Has(Check(report, "signature_schema").reason,
                  "signature inputs entry 1 ('amount') has unknown type 'decimal' (known: "
                  "boolean, integer, long, float, double, string, binary, datetime"));
}

TEST(ValidateModel, FieldsOfTheWrongYamlTypeFailTheirOwnChecks) {
  ValidateOptions options;
  options.required_metadata = {"owner"};
  const auto report = ValidateModel(Fixture("wrong_types"), options);
  EXPECT_TRUE(Check(report, "mlmodel").passed);
  EXPECT_TRUE(Has(Check(report, "flavors").reason,
                  "'flavors' must be a mapping of flavor name to its settings"));
  EXPECT_TRUE(Has(Check(report, "flavors").reason, "found a list"));
  EXPECT_TRUE(
      Has(Check(report, "signature").reason, "signature.inputs must be a JSON string such as"));
  EXPECT_TRUE(Has(Check(report, "input_example").reason,
                  "'saved_input_example_info' must be a mapping with artifact_path and "
                  "type, found the value 'input_example.json'"));
  EXPECT_EQ(Check(report, "metadata").reason,
            "MLmodel: 'metadata' must be a mapping of tag names to values, found a list");
  EXPECT_EQ(Failing(report), (std::vector<std::string>{"flavors", "signature", "signature_schema",
                                                       "input_example", "metadata"}));
}

// ---- Options and the directory itself ----

TEST(ValidateModel, RequiredMetadataTags) {
  ValidateOptions options;
  options.required_metadata = {"owner", "dataset"};
  const auto ok = ValidateModel(Fixture("sklearn_split"), options);
  EXPECT_TRUE(ok.passed()) << ValidationReportText(ok);
  EXPECT_EQ(Check(ok, "metadata").reason, "has owner, dataset");

  options.required_metadata = {"owner", "approved_by", "ticket"};
  const auto missing = ValidateModel(Fixture("sklearn_split"), options);
  EXPECT_EQ(Check(missing, "metadata").reason,
            "MLmodel metadata lacks the required tags 'approved_by', 'ticket'; add them under "
            "'metadata:' in MLmodel");

  TempModel model("sklearn_split");
  {
    std::ifstream in(model.dir() / "MLmodel");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const auto at = text.find("  owner: fraud-team\n");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, std::string("  owner: fraud-team\n").size(), "  owner: ''\n");
    model.Write("MLmodel", text);
  }
  options.required_metadata = {"owner"};
  const auto empty = ValidateModel(model.dir().string(), options);
  EXPECT_EQ(Check(empty, "metadata").reason,
            "required tag 'owner' is empty; add them under 'metadata:' in MLmodel");
}

TEST(ValidateModel, SizeLimitsNameTheBiggestFile) {
  TempModel model("sklearn_split");
  model.Write("weights.bin", std::string(5000, 'w'));
  ValidateOptions options;
  const auto ok = ValidateModel(model.dir().string(), options);
  EXPECT_TRUE(Check(ok, "size").passed);
  EXPECT_TRUE(Has(Check(ok, "size").reason, "in 7 files; biggest: 'weights.bin' (4.9 KiB)"));

  options.max_total_bytes = 4096;
  options.max_file_bytes = 2048;
  const auto over = ValidateModel(model.dir().string(), options);
  const std::string& reason = Check(over, "size").reason;
  EXPECT_FALSE(Check(over, "size").passed);
  EXPECT_TRUE(Has(reason, "over the limit of 4.0 KiB"));
  EXPECT_TRUE(Has(reason, "files over the per-file limit of 2.0 KiB: 'weights.bin' (4.9 KiB)"));
  EXPECT_TRUE(Has(reason, "biggest: 'weights.bin'"));
}

TEST(ValidateModel, MissingDirectoryAndMissingMlmodel) {
  const auto none = ValidateModel(Fixture("does_not_exist"), ValidateOptions{});
  EXPECT_EQ(Names(none), kOrder);
  EXPECT_EQ(Failing(none), kOrder);
  EXPECT_TRUE(Has(Check(none, "mlmodel").reason, "does_not_exist' cannot be opened"));

  TempModel empty;
  const auto report = ValidateModel(empty.dir().string(), ValidateOptions{});
  EXPECT_TRUE(
      Has(Check(report, "mlmodel").reason, "no MLmodel file at the root of the model directory"));
  EXPECT_FALSE(Check(report, "requirements").passed);
}

TEST(ValidateModel, SymlinksLeadingOutAreReportedNotFollowed) {
  TempModel model("sklearn_split");
  std::ofstream(model.outside() / "secret.json") << R"({"columns": [], "data": []})";
  fs::create_symlink(model.outside() / "secret.json", model.dir() / "leak.json");
  fs::create_symlink("missing.bin", model.dir() / "dangling.bin");
  fs::create_symlink("model.pkl", model.dir() / "alias.pkl");  // inside: fine

  const auto report = ValidateModel(model.dir().string(), ValidateOptions{});
  const std::string& reason = Check(report, "files").reason;
  EXPECT_FALSE(Check(report, "files").passed);
  EXPECT_TRUE(Has(reason, "symlink 'leak.json' -> '" + (model.outside() / "secret.json").string() +
                              "' leads outside the model directory (not followed)"));
  EXPECT_TRUE(Has(reason, "symlink 'dangling.bin' -> 'missing.bin' points to nothing"));
  EXPECT_EQ(reason.find("alias.pkl"), std::string::npos);
  EXPECT_TRUE(Has(Check(report, "size").reason, "in 6 files"));  // links not counted
}

TEST(ValidateModel, ReferencedPathsMayNotLeaveTheDirectory) {
  TempModel model("sklearn_split");
  std::ofstream(model.outside() / "MLmodel") << "flavors: {python_function: {}}\n";
  std::ifstream in(model.dir() / "MLmodel");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  text.replace(text.find("artifact_path: input_example.json"),
               std::string("artifact_path: input_example.json").size(),
               "artifact_path: ../MLmodel");
  text.replace(text.find("pickled_model: model.pkl"),
               std::string("pickled_model: model.pkl").size(), "pickled_model: /etc/passwd");
  model.Write("MLmodel", text);

  const auto report = ValidateModel(model.dir().string(), ValidateOptions{});
  EXPECT_EQ(Check(report, "input_example").reason,
            "input example '../MLmodel' leads outside the model directory; it was not followed");
  EXPECT_EQ(Check(report, "flavors").reason,
            "flavor sklearn pickled_model: '/etc/passwd' must be a path relative to the model "
            "directory");

  // MLmodel itself as a link to a file outside: not read.
  fs::remove(model.dir() / "MLmodel");
  fs::create_symlink(model.outside() / "MLmodel", model.dir() / "MLmodel");
  const auto linked = ValidateModel(model.dir().string(), ValidateOptions{});
  EXPECT_EQ(Check(linked, "mlmodel").reason,
            "'MLmodel' leads outside the model directory; it was not followed");
}

TEST(ValidateModel, MissingReferencedModelFileFailsFlavors) {
  TempModel model("sklearn_split");
  fs::remove(model.dir() / "model.pkl");
  const auto report = ValidateModel(model.dir().string(), ValidateOptions{});
  EXPECT_EQ(Check(report, "flavors").reason,
            "flavor python_function model_path: 'model.pkl' does not exist; flavor sklearn "
            "pickled_model: 'model.pkl' does not exist");
}

TEST(ValidateModel, SpecialFilesAreNotReadAndAreReported) {
  TempModel model("sklearn_split");
  fs::remove(model.dir() / "MLmodel");
  ASSERT_EQ(mkfifo((model.dir() / "MLmodel").c_str(), 0600), 0);  // reading it would block
  const auto report = ValidateModel(model.dir().string(), ValidateOptions{});
  EXPECT_EQ(Check(report, "mlmodel").reason, "'MLmodel' is not a regular file");
  EXPECT_EQ(Check(report, "files").reason,
            "'MLmodel' is a named pipe; a model directory holds only files and directories");
}

TEST(ValidateModel, OversizedMlmodelIsNotRead) {
  TempModel model("sklearn_split");
  ValidateOptions options;
  options.max_mlmodel_bytes = 100;
  const auto report = ValidateModel(model.dir().string(), options);
  EXPECT_TRUE(
      Has(Check(report, "mlmodel").reason, "over the limit of 100 B for a file read into memory"));
}

TEST(ValidateModel, UnreadableFilesAreReported) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every file";
  TempModel model("sklearn_split");
  fs::permissions(model.dir() / "input_example.json", fs::perms::none);
  fs::create_directory(model.dir() / "artifacts");
  fs::permissions(model.dir() / "artifacts", fs::perms::none);
  const auto report = ValidateModel(model.dir().string(), ValidateOptions{});
  EXPECT_TRUE(Has(Check(report, "input_example").reason, "cannot be read"));
  EXPECT_TRUE(Has(Check(report, "files").reason,
                  "'input_example.json' cannot be read (Permission denied)"));
  EXPECT_TRUE(Has(Check(report, "files").reason,
                  "directory 'artifacts' cannot be listed (Permission denied)"));
  fs::permissions(model.dir() / "artifacts", fs::perms::owner_all);
}

// ---- Renderings ----

TEST(ValidateReportText, OneLinePerCheck) {
  EXPECT_EQ(ValidationReportText(ValidateModel(Fixture("sklearn_split"), ValidateOptions{})),
            "PASS mlmodel\nPASS flavors\nPASS signature\nPASS signature_schema\n"
            "PASS input_example\nPASS requirements\nPASS files\nPASS size\nPASS metadata\n");
  const std::string text =
      ValidationReportText(ValidateModel(Fixture("no_pyfunc"), ValidateOptions{}));
  EXPECT_TRUE(Has(text,
                  "\nFAIL flavors: MLmodel does not declare the required flavor "
                  "'python_function' (it declares: sklearn)\nPASS signature\n"));
}

TEST(ValidateReportJson, FollowsTheDocumentedSchema) {
  const auto report = ValidateModel(Fixture("unknown_type"), ValidateOptions{});
  const auto json = ValidationReportJson(report);
  EXPECT_EQ(json["passed"], false);
  EXPECT_EQ(json["path"], Fixture("unknown_type"));
  ASSERT_EQ(json["checks"].size(), kOrder.size());
  for (std::size_t i = 0; i < kOrder.size(); ++i) {
    EXPECT_EQ(json["checks"][i]["name"], kOrder[i]);
    EXPECT_EQ(json["checks"][i].size(), 3U);
  }
  EXPECT_EQ(json["checks"][3]["passed"], false);
  EXPECT_TRUE(Has(json["checks"][3]["reason"].get<std::string>(), "unknown type 'decimal'"));
  EXPECT_EQ(json["checks"][0]["passed"], true);
  EXPECT_EQ(ValidationReportJson(ValidateModel(Fixture("sklearn_split"), {}))["passed"], true);
}

// ---- The parsers ----

TEST(ValidateParseMlmodel, RejectsNonMappingsAndKeepsFieldErrorsApart) {
  EXPECT_EQ(ParseMlmodel("").error().message,
            "MLmodel must be a YAML mapping with keys such as flavors and signature, found "
            "nothing");
  EXPECT_TRUE(Has(ParseMlmodel("- a\n- b\n").error().message, "found a list"));
  EXPECT_TRUE(Has(ParseMlmodel("a: [1, 2\n").error().message, "not valid YAML"));

  const auto model = ParseMlmodel(
      "flavors: {python_function: {env: {conda: conda.yaml, virtualenv: python_env.yaml}}}\n"
      "signature: {inputs: '[]', outputs: {a: 1}}\n"
      "metadata: {owner: me, tags: [a], nested: {b: c}, none: null}\n");
  ASSERT_TRUE(model.has_value());
  ASSERT_TRUE(model->flavors.has_value());
  ASSERT_EQ(model->flavors->size(), 1U);
  EXPECT_EQ(model->flavors->front().files,
            (std::vector<std::pair<std::string, std::string>>{
                {"env.conda", "conda.yaml"}, {"env.virtualenv", "python_env.yaml"}}));
  EXPECT_FALSE(model->signature.has_value());
  EXPECT_TRUE(Has(model->signature.error().message, "signature.outputs must be a JSON"));
  ASSERT_TRUE(model->metadata.has_value());
  EXPECT_EQ(*model->metadata,
            (std::map<std::string, std::string>{
                {"owner", "me"}, {"tags", "<list>"}, {"nested", "<mapping>"}, {"none", ""}}));
}

TEST(ValidateParseSchema, ColumnsTensorsAndMistakes) {
  const auto columns = ParseSchemaJson(
      R"([{"name": "a", "type": "long"}, {"name": "b", "type": "string", "optional": true},
          {"name": "c", "type": "array", "items": {"type": "double"}, "required": false}])",
      "signature inputs");
  ASSERT_TRUE(columns.has_value()) << columns.error().message;
  ASSERT_EQ(columns->columns.size(), 3U);
  EXPECT_TRUE(columns->columns[0].required);
  EXPECT_FALSE(columns->columns[1].required);
  EXPECT_FALSE(columns->columns[2].required);

  const auto tensors = ParseSchemaJson(
      R"([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 28, 28]}}])", "x");
  ASSERT_TRUE(tensors.has_value());
  EXPECT_TRUE(tensors->tensor);

  EXPECT_EQ(ParseSchemaJson("[{\"type\": \"double\"", "x").error().message.substr(0, 25),
            "x is not valid JSON: pars");
  EXPECT_EQ(ParseSchemaJson(R"({"type": "double"})", "x").error().message,
            "x must be a JSON list of column or tensor specs, found an object");
  EXPECT_EQ(
      ParseSchemaJson(R"([{"name": "a", "type": "long"}, {"name": "a", "type": "long"}])", "x")
          .error()
          .message,
      "x lists the column 'a' twice");
  EXPECT_EQ(
      ParseSchemaJson(R"([{"name": "a", "type": "long"}, {"type": "long"}])", "x").error().message,
      "x mixes named and unnamed entries; name all of them or none");
  EXPECT_EQ(ParseSchemaJson(
                R"([{"type": "long"}, {"type": "tensor", "tensor-spec": {"dtype": "int8"}}])", "x")
                .error()
                .message,
            "x mixes column and tensor specs; use one kind only");
  EXPECT_EQ(
      ParseSchemaJson(R"([{"name": "a", "type": "long", "required": "yes"}])", "x").error().message,
      "x entry 1 ('a'): \"required\" must be true or false, found the string \"yes\"");
  EXPECT_EQ(ParseSchemaJson(R"([{"name": 7, "type": "long"}])", "x").error().message,
            "x entry 1: \"name\" must be a string, found the integer 7");
}

TEST(ValidateInputExample, TypesOrientsAndShapes) {
  const SchemaSpec named{
      false, {{"id", "integer", true}, {"score", "float", true}, {"tag", "string", false}}};
  // "values" orient is positional.
  auto check = CheckInputExample(R"([[1, 0.5, "a"], [2, 3, null]])", "values", named);
  EXPECT_TRUE(check.problems.empty()) << check.problems.front();
  EXPECT_EQ(check.rows, 2U);

  check = CheckInputExample(R"([[1.5, 0.5], [4294967296, 1]])", "values", named);
  EXPECT_EQ(check.problems,
            (std::vector<std::string>{
                "row 1, column 'id': expected integer (an integer), found the number 1.5",
                "row 2, column 'id': expected integer (a 32-bit integer), found the integer "
                "4294967296"}));

  check = CheckInputExample(R"({"dataframe_records": [{"id": 1, "score": 1, "extra": true}]})", "",
                            named);
  EXPECT_EQ(check.orient, "records");
  EXPECT_EQ(check.problems, std::vector<std::string>{
                                "column 'extra' is not in the signature (it lists 3 columns)"});

  check = CheckInputExample(R"([{"score": null}])", "records", named);
  EXPECT_EQ(check.problems, (std::vector<std::string>{"row 1: required column 'id' is missing",
                                                      "row 1: required column 'score' is null"}));

  check = CheckInputExample(R"({"columns": ["id"], "data": []})", "split", named);
  EXPECT_EQ(check.problems, (std::vector<std::string>{"required column 'score' is missing",
                                                      "the example has no rows"}));

  check = CheckInputExample(R"({"columns": ["id", "score"], "data": [[1]]})", "split", named);
  EXPECT_EQ(check.problems.front(), "row 1 has 1 values for 2 columns");

  EXPECT_TRUE(Has(CheckInputExample("{", "split", named).problems.front(),
                  "the input example is not valid JSON"));
  EXPECT_EQ(CheckInputExample("[]", "index", named).problems.front(),
            "pandas_orient 'index' is not understood (use split, records or values)");

  const SchemaSpec unnamed{false, {{std::nullopt, "boolean", true}}};
  EXPECT_EQ(CheckInputExample(R"([[true, 1]])", "values", unnamed).problems,
            std::vector<std::string>{"column 2 is not in the signature (it lists 1 columns)"});
  EXPECT_TRUE(Has(CheckInputExample(R"([{"a": true}])", "records", unnamed).problems.front(),
                  "columns are unnamed"));

  // Deep nesting is named, not dumped.
  const std::string deep = "[[" + std::string(10000, '[') + std::string(10000, ']') + "]]";
  EXPECT_EQ(
      CheckInputExample(deep, "values", named).problems,
      (std::vector<std::string>{"row 1, column 'id': expected integer (an integer), found a list",
                                "row 1: required column 'score' is missing"}));

  // Long problem lists are cut short.
  std::string many = "[";
  for (int i = 0; i < 20; ++i) many += std::string(i == 0 ? "" : ",") + R"(["x", 1])";
  many += "]";
  check = CheckInputExample(many, "values", named);
  EXPECT_EQ(check.problems.size(), 6U);
  EXPECT_EQ(check.problems.back(), "and 15 more");
}

}  // namespace
}  // namespace stagegate::ml
