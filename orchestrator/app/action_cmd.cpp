// `stagegate action NAME ...`: the ML actions, run on a worker like any task (a pipeline's
// `uses: NAME` becomes this command line) or by hand. Each writes a JSON report (`--json`, by
// default $STAGEGATE_ARTIFACTS/<name>.json inside a task), a readable report on stdout, and
// its outputs to $STAGEGATE_OUTPUT when set. Exit code 0: pass (no drift), 1: fail (drift),
// 2: bad input.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "orchestrator/app/commands.hpp"
#include "orchestrator/app/registries.hpp"
#include "orchestrator/config/config_loader.hpp"
#include "orchestrator/core/units.hpp"
#include "ml/compare_report.hpp"
#include "ml/drift.hpp"
#include "ml/metrics.hpp"
#include "ml/table.hpp"
#include "ml/validate_model.hpp"

namespace stagegate::app {
namespace {

using nlohmann::json;

// Reports bad input of `action` on stderr; returns its exit code, 2.
int BadInput(const char* action, const std::string& message) {
  std::fprintf(stderr, "stagegate action %s: %s\n", action, message.c_str());
  return 2;
}

// Writes a report to the flag's path, or else into the task's artifacts directory as
// <action><extension>, or nowhere; `make` builds the text only when it is written. False
// (after saying so) when the file cannot be written.
template <class Make>
bool WriteReport(const std::string& given, const char* action, const char* extension, Make make) {
  std::string path = given;
  if (const char* artifacts = std::getenv("STAGEGATE_ARTIFACTS"); path.empty() && artifacts != nullptr && *artifacts) {
    path = (std::filesystem::path(artifacts) / (std::string(action) + extension)).string();
  }
  if (path.empty()) return true;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << make();
  out.close();
  if (!out) {
    BadInput(action, "cannot write " + path);
    return false;
  }
  return true;
}

// Appends key=value lines (heredoc form for multi-line values) to $STAGEGATE_OUTPUT.
void WriteOutputs(const std::map<std::string, std::string>& outputs) {
  const char* path = std::getenv("STAGEGATE_OUTPUT");
  if (path == nullptr || *path == '\0') return;
  std::ofstream out(path, std::ios::app);
  for (const auto& [key, value] : outputs) {
    if (value.find('\n') == std::string::npos) {
      out << key << "=" << value << "\n";
    } else {
      out << key << "<<STAGEGATE_EOF\n" << value << "\nSTAGEGATE_EOF\n";
    }
  }
}

int ValidateModelAction(const ActionOptions& o) {
  ml::ValidateOptions options;
  options.require_signature = o.require_signature;
  options.require_input_example = o.require_input_example;
  if (!o.required_flavors.empty()) options.required_flavors = o.required_flavors;
  options.required_metadata = o.required_metadata;
  if (!o.max_size.empty()) {
    auto bytes = ParseByteSize(o.max_size);
    if (!bytes) {
      return BadInput("validate-model", "--max-size " + o.max_size + ": " + bytes.error().message);
    }
    options.max_total_bytes = *bytes;
  }
  if (!std::filesystem::is_directory(o.path)) {
    std::fprintf(stderr,
                 "stagegate action validate-model: --path %s is not a directory; give the model "
                 "directory that holds the MLmodel file\n",
                 o.path.c_str());
    return 2;
  }
  const ml::ValidationReport report = ml::ValidateModel(o.path, options);
  std::fputs(ml::ValidationReportText(report).c_str(), stdout);
  if (!WriteReport(o.json, "validate-model", ".json",
                   [&] { return ml::ValidationReportJson(report).dump(2) + "\n"; })) {
    return 2;
  }
  std::string failed;
  for (const auto& c : report.checks) {
    if (!c.passed) failed += (failed.empty() ? "" : ",") + c.name;
  }
  WriteOutputs({{"passed", report.passed() ? "true" : "false"}, {"failed_checks", failed}});
  return report.passed() ? 0 : 1;
}

int DriftAction(const ActionOptions& o) {
  const auto fail = [](const std::string& message) { return BadInput("drift", message); };
  ml::DriftOptions options;
  if (!o.config.empty()) {
    auto parsed = ml::ParseDriftConfig(o.config);
    if (!parsed) return fail(parsed.error().message);
    options = std::move(*parsed);
  }
  if (!o.label.empty()) options.label = o.label;
  if (!o.prediction.empty()) options.prediction = o.prediction;
  if (!o.features.empty()) options.features = o.features;
  ml::ReadOptions read;
  if (!options.features.empty()) {
    read.columns = options.features;
    if (!options.label.empty()) read.columns.push_back(options.label);
    if (!options.prediction.empty()) read.columns.push_back(options.prediction);
  }
  for (const auto& [name, c] : options.columns) {
    if (c.kind) read.kinds[name] = *c.kind;
  }
  auto reference = ml::ReadTable(o.reference, read);
  if (!reference) return fail(reference.error().message);
  // The current data is read with the reference's kinds: a text in a numeric column is an
  // error naming its row, not a silent change of test.
  if (read.columns.empty()) {
    for (const auto& c : reference->columns) read.columns.push_back(c.name);
  }
  for (const auto& c : reference->columns) read.kinds[c.name] = c.kind;
  auto current = ml::ReadTable(o.current, read);
  if (!current) return fail(current.error().message);
  // The tables are not needed afterwards: their columns are sorted where they are.
  auto report = ml::ComputeDrift(std::move(*reference), std::move(*current), options);
  if (!report) return fail(report.error().message);
  const nlohmann::json j = ml::DriftReportJson(*report);
  std::printf("drift: %s (%zu reference rows, %zu current rows)\n", report->drift_detected ? "DETECTED" : "none",
              report->reference_rows, report->current_rows);
  for (const auto& c : report->columns) {
    std::printf("  %-5s %-24s %-11s %-11s %s %.4g vs %.4g\n", c.drift ? "DRIFT" : "ok", c.name.c_str(),
                c.role.c_str(), c.kind == ml::ColumnKind::kNumeric ? "numeric" : "categorical",
                c.decided_by.c_str(), c.score, c.threshold);
  }
  if (!WriteReport(o.json, "drift", ".json", [&] { return j.dump(2) + "\n"; }) ||
      !WriteReport(o.html, "drift", ".html",
                   [&] { return ml::DriftReportHtml(*report, o.reference, o.current); })) {
    return 2;
  }
  std::string drifted;
  for (const auto& name : j["drifted_columns"]) drifted += (drifted.empty() ? "" : ",") + name.get<std::string>();
  WriteOutputs({{"drift_detected", report->drift_detected ? "true" : "false"}, {"drifted_columns", drifted}});
  return report->drift_detected && !o.report_only ? 1 : 0;
}

// Champion vs challenger on one labelled dataset holding both models' predictions or scores.
// The verdict compares the bootstrap interval of (challenger - champion) with min_improvement,
// in the metric's better direction: pass when the whole interval shows at least that gain.
int CompareEvaluateAction(const ActionOptions& o) {
  const auto fail = [](const std::string& message) { return BadInput("compare", message); };
  for (const auto& [flag, value] : {std::pair{"--data", o.data}, {"--label", o.label},
                                    {"--champion", o.champion}, {"--challenger", o.challenger},
                                    {"--metric", o.metric}}) {
    if (value.empty()) return fail(std::string(flag) + " is required with --mode evaluate");
  }
  auto metric = ml::ParseMetric(o.metric);
  if (!metric) return fail(metric.error().message);
  const bool classification = o.task == "classification";
  if (!classification && o.task != "regression") {
    return fail("--task must be classification or regression, not '" + o.task + "'");
  }
  if (ml::IsClassification(*metric) != classification) {
    return fail("--metric " + o.metric + " is a " + (classification ? "regression" : "classification") +
                " metric; it does not fit --task " + o.task);
  }
  ml::ReadOptions read;
  read.columns = {o.label, o.champion, o.challenger};
  read.kinds[o.champion] = ml::ColumnKind::kNumeric;
  read.kinds[o.challenger] = ml::ColumnKind::kNumeric;
  if (!classification) read.kinds[o.label] = ml::ColumnKind::kNumeric;
  auto table = ml::ReadTable(o.data, read);
  if (!table) return fail(table.error().message);
  if (table->rows == 0) return fail(o.data + ": no data rows");
  std::vector<double> y;
  if (classification) {
    auto labels = ml::ToBinaryLabels(*table->Find(o.label),
                                     o.positive_label.empty() ? std::nullopt : std::optional(o.positive_label));
    if (!labels) return fail(o.data + ": " + labels.error().message);
    y = std::move(*labels);
  } else {
    y = table->Find(o.label)->numbers;
  }
  const auto& champion = table->Find(o.champion)->numbers;
  const auto& challenger = table->Find(o.challenger)->numbers;
  for (const auto* c : {table->Find(o.label), table->Find(o.champion), table->Find(o.challenger)}) {
    if (c->missing > 0) {
      return fail(o.data + ": column '" + c->name + "' has " + std::to_string(c->missing) +
                  " missing values; drop or fill those rows first");
    }
  }
  ml::BootstrapOptions boot;
  boot.resamples = o.resamples;
  boot.confidence = o.confidence;
  boot.seed = o.seed;
  boot.classification.threshold = o.threshold;
  auto interval = ml::PairedBootstrap(*metric, y, champion, challenger, boot);
  if (!interval) return fail(interval.error().message);
  const bool higher_better = ml::HigherIsBetter(*metric);
  // The gain in the better direction, and its worst case over the interval.
  const double gain = higher_better ? interval->difference : -interval->difference;
  const double worst_gain = higher_better ? interval->lower : -interval->upper;
  const bool pass = worst_gain >= o.min_improvement;
  json report = {{"mode", "evaluate"},
                 {"task", o.task},
                 {"metric", o.metric},
                 {"direction", higher_better ? "maximize" : "minimize"},
                 {"rows", table->rows},
                 {"champion", interval->champion},
                 {"challenger", interval->challenger},
                 {"difference", interval->difference},
                 {"interval", {interval->lower, interval->upper}},
                 {"confidence", interval->confidence},
                 {"resamples", interval->resamples},
                 {"undefined_resamples", interval->undefined_resamples},
                 {"seed", o.seed},
                 {"min_improvement", o.min_improvement},
                 {"gain", gain},
                 {"verdict", pass ? "pass" : "fail"}};
  if (classification) {
    auto mc = ml::McNemar(y, champion, challenger, boot.classification);
    if (!mc) return fail(mc.error().message);
    report["mcnemar"] = {{"champion_only", mc->champion_only},
                         {"challenger_only", mc->challenger_only},
                         {"method", mc->method == ml::McNemarMethod::kExactBinomial ? "exact" : "chi2_corrected"},
                         {"statistic", mc->statistic},
                         {"p_value", mc->p_value}};
  }
  std::printf("compare: %s. %s champion %.6g, challenger %.6g, difference %.6g, %.0f%% interval [%.6g, %.6g]; "
              "needs a gain of at least %.6g over the whole interval\n",
              pass ? "PASS" : "FAIL", o.metric.c_str(), interval->champion, interval->challenger,
              interval->difference, interval->confidence * 100, interval->lower, interval->upper,
              o.min_improvement);
  if (!WriteReport(o.json, "compare", ".json", [&] { return report.dump(2) + "\n"; }) ||
      !WriteReport(o.html, "compare", ".html",
                   [&] { return ml::CompareReportHtml(report, interval->differences, o.data); })) {
    return 2;
  }
  char buf[64];
  auto num = [&buf](double v) {
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return std::string(buf);
  };
  WriteOutputs({{"verdict", pass ? "pass" : "fail"},
                {"champion", num(interval->champion)},
                {"challenger", num(interval->challenger)},
                {"difference", num(interval->difference)},
                {"interval_low", num(interval->lower)},
                {"interval_high", num(interval->upper)}});
  return pass ? 0 : 1;
}

// Champion vs challenger by the metrics their training runs logged (protocols.md §2.3): the
// challenger is a version, the champion the version behind an alias (MLflow) or the latest
// version in a stage (Databricks); each version's run_id leads to runs/get.
int CompareMetricsAction(const ActionOptions& o) {
  const auto fail = [](const std::string& message) { return BadInput("compare", message); };
  for (const auto& [flag, value] : {std::pair{"--model", o.model}, {"--challenger-version", o.challenger_version},
                                    {"--metric", o.metric}}) {
    if (value.empty()) return fail(std::string(flag) + " is required with --mode metrics");
  }
  if (o.champion_alias.empty() == o.champion_stage.empty()) {
    return fail("give the champion as exactly one of --champion-alias (MLflow) or --champion-stage (Databricks)");
  }
  if (o.direction != "maximize" && o.direction != "minimize") {
    return fail("--direction must be maximize or minimize, not '" + o.direction + "'");
  }
  if (o.if_no_champion != "pass" && o.if_no_champion != "fail") {
    return fail("--if-no-champion must be pass or fail, not '" + o.if_no_champion + "'");
  }
  std::string config_path = o.config;
  if (config_path.empty()) {
    if (const char* env = std::getenv("STAGEGATE_CONFIG"); env != nullptr) config_path = env;
  }
  if (config_path.empty()) {
    return fail("--mode metrics reads the registry from the server's config: give --config FILE (a task "
                "of `stagegate serve --config` gets it as STAGEGATE_CONFIG)");
  }
  auto config = config::LoadConfigFile(config_path);
  if (!config) return fail(config.error().message);
  std::string name = o.registry;
  if (name.empty() && config->registries.size() == 1) name = config->registries.front().name;
  const RegistryConfig* registry = FindRegistry(config->registries, name);
  if (registry == nullptr) {
    std::string known;
    for (const auto& r : config->registries) known += (known.empty() ? "" : ", ") + r.name;
    return fail("registry '" + name + "' is not configured in " + config_path + " (registries: " +
                (known.empty() ? "none" : known) + "); give --registry NAME");
  }
  const RegistryClientPtr client = MakeRegistryClient(*registry);

  // A version's metric: nullopt with the reason when the version has no run or the run no metric.
  auto metric_of = [&](const ModelVersionInfo& v, std::string* why) -> Result<std::optional<double>> {
    if (v.run_id.empty()) {
      *why = "version " + v.version + " has no run behind it";
      return std::optional<double>();
    }
    auto run = client->GetRun(v.run_id);
    if (!run) return tl::unexpected(run.error());
    const auto it = run->metrics.find(o.metric);
    if (it == run->metrics.end()) {
      *why = "run " + v.run_id + " of version " + v.version + " logged no metric '" + o.metric + "'";
      return std::optional<double>();
    }
    return std::optional<double>(it->second);
  };
  auto challenger_version = client->GetModelVersion(o.model, o.challenger_version);
  if (!challenger_version) return fail(challenger_version.error().message);
  std::optional<ModelVersionInfo> champion_version;
  if (!o.champion_alias.empty()) {
    auto found = client->GetVersionByAlias(o.model, o.champion_alias);
    if (!found) return fail(found.error().message);
    champion_version = *found;
  } else {
    auto latest = client->LatestVersions(o.model, {o.champion_stage});
    if (!latest) return fail(latest.error().message);
    if (!latest->empty()) champion_version = latest->front();
  }
  const std::string champion_ref = o.champion_alias.empty() ? "stage " + o.champion_stage : "alias " + o.champion_alias;
  json report = {{"mode", "metrics"}, {"metric", o.metric}, {"direction", o.direction},
                 {"model", o.model}, {"min_improvement", o.min_improvement}};
  std::string why;
  auto challenger = metric_of(*challenger_version, &why);
  if (!challenger) return fail(challenger.error().message);
  report["challenger"] = {{"version", challenger_version->version}, {"run_id", challenger_version->run_id},
                          {"value", challenger->has_value() ? json(**challenger) : json(nullptr)}};
  std::string verdict;
  std::string reason;
  if (!challenger->has_value()) {
    verdict = "fail";
    reason = "no evidence for the challenger: " + why;
  } else if (!champion_version || champion_version->version == challenger_version->version) {
    verdict = o.if_no_champion;
    reason = !champion_version ? "no champion (" + champion_ref + " is not set): the challenger is the first model"
                               : "the challenger already is the champion (" + champion_ref + ")";
    report["champion"] = nullptr;
  } else {
    auto champion = metric_of(*champion_version, &why);
    if (!champion) return fail(champion.error().message);
    report["champion"] = {{"version", champion_version->version}, {"run_id", champion_version->run_id},
                          {"value", champion->has_value() ? json(**champion) : json(nullptr)}};
    if (!champion->has_value()) {
      verdict = o.if_no_champion;
      reason = "the champion has no evidence (" + why + "): treated as no champion";
    } else {
      const double difference = **challenger - **champion;
      const double gain = o.direction == "maximize" ? difference : -difference;
      report["difference"] = difference;
      report["interval"] = {difference, difference};  // logged metrics give one value each
      report["gain"] = gain;
      verdict = gain >= o.min_improvement ? "pass" : "fail";
      reason = o.metric + " " + std::to_string(**challenger) + " vs " + std::to_string(**champion) +
               " (version " + champion_version->version + ", " + champion_ref + "): gain " + std::to_string(gain) +
               (verdict == "pass" ? " meets " : " is below ") + "the required " + std::to_string(o.min_improvement);
    }
  }
  if (!report.contains("difference")) {
    report["difference"] = nullptr;
    report["interval"] = nullptr;
  }
  report["verdict"] = verdict;
  report["reason"] = reason;
  std::printf("compare: %s. %s\n", verdict == "pass" ? "PASS" : "FAIL", reason.c_str());
  if (!WriteReport(o.json, "compare", ".json", [&] { return report.dump(2) + "\n"; }) ||
      !WriteReport(o.html, "compare", ".html", [&] {
        return ml::CompareReportHtml(report, {}, "model " + o.model + " in the registry");
      })) {
    return 2;
  }
  WriteOutputs({{"verdict", verdict}, {"summary", reason}});
  return verdict == "pass" ? 0 : 1;
}

}  // namespace

CLI::App* AddActionCommand(CLI::App& app, ActionOptions& o) {
  auto* action = app.add_subcommand("action", "Run a built-in ML action (what `uses:` runs on a worker)");
  action->require_subcommand(1);

  auto* validate = action->add_subcommand("validate-model", "Check an MLflow model directory");
  validate->add_option("--path", o.path, "The model directory (holding MLmodel)")->required();
  validate->add_flag("--require-signature", o.require_signature, "Fail without a signature");
  validate->add_flag("--require-input-example", o.require_input_example,
                     "Fail without an input example that conforms to the signature");
  validate->add_option("--required-flavor", o.required_flavors,
                       "A flavor that must be declared (repeatable; default python_function)");
  validate->add_option("--required-metadata", o.required_metadata,
                       "A metadata key that must be set (repeatable)");
  validate->add_option("--max-size", o.max_size, "Largest total size, e.g. 500MiB (default 2GiB)");
  validate->add_option("--json", o.json, "Write the JSON report here");
  validate->callback([&o] { o.action = "validate-model"; });

  auto* drift = action->add_subcommand("drift", "Compare current data with reference data, column by column");
  drift->add_option("--reference", o.reference, "Reference data (CSV, TSV or JSON Lines)")->required();
  drift->add_option("--current", o.current, "Current data, same columns")->required();
  drift->add_option("--config", o.config, "Column roles, tests and thresholds (YAML)");
  drift->add_option("--label", o.label, "The label column");
  drift->add_option("--prediction", o.prediction, "The prediction column");
  drift->add_option("--features", o.features, "Feature columns (default: every shared column)")->delimiter(',');
  drift->add_option("--json", o.json, "Write the JSON report here");
  drift->add_option("--html", o.html, "Write the HTML report here");
  drift->add_flag("--report-only", o.report_only,
                  "Exit 0 when there is drift (report it only); bad input still exits 2");
  drift->callback([&o] { o.action = "drift"; });

  auto* compare = action->add_subcommand("compare", "Champion vs challenger");
  compare->add_option("--mode", o.mode, "evaluate (on labelled data) or metrics (the runs' logged metrics)")
      ->required();
  compare->add_option("--data", o.data, "Labelled data with both models' predictions (CSV, TSV, JSON Lines)");
  compare->add_option("--label", o.label, "The label column");
  compare->add_option("--champion", o.champion, "The champion's prediction or score column");
  compare->add_option("--challenger", o.challenger, "The challenger's prediction or score column");
  compare->add_option("--task", o.task, "classification or regression")->capture_default_str();
  compare->add_option("--metric", o.metric, "accuracy, precision, recall, f1, roc_auc, log_loss, rmse, mae or r2");
  compare->add_option("--min-improvement", o.min_improvement,
                      "Gain the whole interval must show, in the metric's better direction")
      ->capture_default_str();
  compare->add_option("--positive-label", o.positive_label, "The positive class of a text label");
  compare->add_option("--threshold", o.threshold, "Score threshold for label metrics")->capture_default_str();
  compare->add_option("--confidence", o.confidence, "Of the bootstrap interval")->capture_default_str();
  compare->add_option("--resamples", o.resamples, "Bootstrap resamples")->capture_default_str();
  compare->add_option("--seed", o.seed, "Bootstrap seed")->capture_default_str();
  compare->add_option("--json", o.json, "Write the JSON report here");
  compare->add_option("--html", o.html, "Write the HTML report here");
  compare->add_option("--registry", o.registry, "metrics mode: the configured registry (default: the only one)");
  compare->add_option("--config", o.config, "metrics mode: the server config with the registry (default $STAGEGATE_CONFIG)");
  compare->add_option("--if-no-champion", o.if_no_champion, "metrics mode: pass or fail when there is no champion")
      ->capture_default_str();
  compare->add_option("--model", o.model, "metrics mode: the registered model");
  compare->add_option("--challenger-version", o.challenger_version, "metrics mode: the challenger's version");
  compare->add_option("--champion-alias", o.champion_alias, "metrics mode: the champion's alias");
  compare->add_option("--champion-stage", o.champion_stage, "metrics mode: the champion's stage");
  compare->add_option("--direction", o.direction, "metrics mode: maximize or minimize");
  compare->callback([&o] { o.action = "compare"; });
  return action;
}

int RunAction(const ActionOptions& o) {
  if (o.action == "validate-model") return ValidateModelAction(o);
  if (o.action == "drift") return DriftAction(o);
  if (o.action == "compare") {
    if (o.mode == "evaluate") return CompareEvaluateAction(o);
    if (o.mode == "metrics") return CompareMetricsAction(o);
    return BadInput("compare", "--mode must be evaluate or metrics, not '" + o.mode + "'");
  }
  std::fprintf(stderr, "stagegate action: unknown action '%s'\n", o.action.c_str());
  return 2;
}

}  // namespace stagegate::app
