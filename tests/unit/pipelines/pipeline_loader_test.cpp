#include "pipelines/pipeline_loader.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

#include "pipelines/trigger.hpp"

namespace stagegate::pipelines {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(SG_TEST_DATA_DIR) / "pipelines";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string Rendered(const LoadedPipeline& loaded) {
  std::string out;
  for (const auto& d : loaded.errors) out += d.ToString() + "\n";
  return out;
}

// Every file in invalid/ is paired with <name>.expected: the exact diagnostics, one per line.
TEST(PipelineLoaderTest, EveryInvalidFileGivesItsExpectedDiagnostics) {
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kData / "invalid")) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string name = entry.path().filename().string();
    const fs::path expected_path = fs::path(entry.path()).replace_extension(".expected");
    ASSERT_TRUE(fs::exists(expected_path)) << "missing " << expected_path;
    const auto loaded = LoadPipelineText(ReadFile(entry.path()), name);
    EXPECT_FALSE(loaded.spec.has_value()) << name;
    EXPECT_EQ(Rendered(loaded), ReadFile(expected_path)) << name;
    ++checked;
  }
  EXPECT_GE(checked, 15);
}

TEST(PipelineLoaderTest, EveryValidFileLoads) {
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kData / "valid")) {
    const auto loaded = LoadPipelineText(ReadFile(entry.path()), entry.path().filename().string());
    EXPECT_TRUE(loaded.errors.empty()) << Rendered(loaded);
    EXPECT_TRUE(loaded.spec.has_value());
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

TEST(PipelineLoaderTest, ProductionGateIsReadIntoTheSpec) {
  const std::string text = ReadFile(kData / "valid" / "production_gate.yaml");
  const auto loaded = LoadPipelineText(text, "production_gate.yaml");
  ASSERT_TRUE(loaded.spec) << Rendered(loaded);
  const PipelineSpec& p = *loaded.spec;
  EXPECT_EQ(p.name, "production-gate");
  EXPECT_EQ(p.revision.size(), 64U);
  ASSERT_TRUE(p.on.registry);
  EXPECT_EQ(p.on.registry->events, std::vector<std::string>{"transition_request.created"});
  EXPECT_EQ(p.on.registry->models, std::vector<std::string>{"churn-*"});
  EXPECT_EQ(p.on.registry->to_stages, std::vector<std::string>{"Production"});
  EXPECT_EQ(p.on.schedules, std::vector<std::string>{"0 3 * * *"});
  EXPECT_TRUE(p.on.manual);
  ASSERT_EQ(p.on.inputs.size(), 1U);
  EXPECT_EQ(p.on.inputs[0].type, "number");
  EXPECT_EQ(p.on.inputs[0].default_value, "0.8");
  ASSERT_TRUE(p.concurrency);
  EXPECT_EQ(p.concurrency->policy, ConcurrencyPolicy::kQueue);
  EXPECT_EQ(p.defaults.timeout, std::chrono::minutes(30));
  ASSERT_EQ(p.tasks.size(), 4U);
  EXPECT_EQ(p.tasks[0].id, "test");
  EXPECT_EQ(p.tasks[0].retries, 2);
  EXPECT_EQ(p.tasks[0].timeout, std::chrono::minutes(10));
  ASSERT_TRUE(p.tasks[0].matrix);
  EXPECT_FALSE(p.tasks[0].matrix->fail_fast);
  ASSERT_EQ(p.tasks[0].matrix->axes.size(), 1U);
  EXPECT_EQ(p.tasks[0].matrix->axes[0].second, (std::vector<std::string>{"3.10", "3.11"}));
  EXPECT_EQ(p.tasks[1].uses, "compare");
  EXPECT_EQ(p.tasks[1].with.at("metric"), "val_auc");
  EXPECT_EQ(p.tasks[3].if_expression, "failure()");
  EXPECT_EQ(p.tasks[3].needs, std::vector<std::string>{"compare"});
  EXPECT_EQ(p.tasks[3].pos.line, 32);
}

TEST(PipelineLoaderTest, RevisionChangesWithTheBytes) {
  const std::string a = "on: {manual: {}}\ntasks:\n  a: {run: \"true\"}\n";
  const auto first = LoadPipelineText(a, "p.yaml");
  const auto second = LoadPipelineText(a + "# comment\n", "p.yaml");
  ASSERT_TRUE(first.spec && second.spec);
  EXPECT_NE(first.spec->revision, second.spec->revision);
  EXPECT_EQ(first.spec->name, "p");  // defaults to the file name
}

TEST(PipelineLoaderTest, DatabricksSpellingsAreCanonicalAndImplyTheStage) {
  const auto loaded = LoadPipelineText(
      "on:\n  registry: {events: [TRANSITION_REQUEST_TO_PRODUCTION_CREATED]}\n"
      "tasks:\n  a: {run: \"true\"}\n",
      "p.yaml");
  ASSERT_TRUE(loaded.spec) << Rendered(loaded);
  EXPECT_EQ(loaded.spec->on.registry->events, std::vector<std::string>{"transition_request.created"});
  EXPECT_EQ(loaded.spec->on.registry->to_stages, std::vector<std::string>{"Production"});
}

// A pipeline with this on.registry; in it, $P, $S, $MV and $TR stand for the long Databricks
// names of requests to Production and Staging, stage transitions and all requests.
LoadedPipeline LoadRegistry(std::string registry) {
  const std::pair<const char*, const char*> names[] = {
      {"$P", "TRANSITION_REQUEST_TO_PRODUCTION_CREATED"},
      {"$S", "TRANSITION_REQUEST_TO_STAGING_CREATED"},
      {"$MV", "MODEL_VERSION_TRANSITIONED_STAGE"},
      {"$TR", "TRANSITION_REQUEST_CREATED"}};
  for (const auto& [short_name, name] : names) {
    for (auto at = registry.find(short_name); at != std::string::npos;
         at = registry.find(short_name)) {
      registry.replace(at, std::string_view(short_name).size(), name);
    }
  }
  return LoadPipelineText("on:\n  registry: " + registry + "\ntasks:\n  a: {run: \"true\"}\n",
                          "p.yaml");
}

Event StageEvent(std::string type, std::string to_stage) {
  Event e;
  e.type = std::move(type);
  e.model_name = "m";
  e.to_stage = std::move(to_stage);
  return e;
}

// to_stage is one filter per trigger; stage names that agree with it are fine.
TEST(PipelineLoaderTest, ImpliedStagesThatAgreeWithTheTriggerFilterAreAccepted) {
  for (const char* registry : {
           "{events: [$P, MODEL_VERSION_TRANSITIONED_TO_PRODUCTION]}",
           "{events: [$S, $P]}",
           "{events: [$P, MODEL_VERSION_CREATED, COMMENT_CREATED]}",
           "{events: [$P], to_stage: [production]}",
           "{events: [$P, $MV], to_stage: Production}",
       }) {
    const auto loaded = LoadRegistry(registry);
    EXPECT_TRUE(loaded.spec) << registry << "\n" << Rendered(loaded);
  }
  const auto both = LoadRegistry("{events: [$S, $P]}");
  ASSERT_TRUE(both.spec);
  const RegistryTrigger& t = *both.spec->on.registry;
  EXPECT_TRUE(MatchesRegistryTrigger(t, StageEvent("transition_request.created", "Staging")));
  EXPECT_TRUE(MatchesRegistryTrigger(t, StageEvent("transition_request.created", "Production")));
  EXPECT_FALSE(MatchesRegistryTrigger(t, StageEvent("transition_request.created", "Archived")));
}

TEST(PipelineLoaderTest, ImpliedStagesThatWouldFilterOtherEventsAreRejected) {
  for (const char* registry : {
           "{events: [$P, $TR]}",
           "{events: [$P, MODEL_VERSION_TRANSITIONED_TO_STAGING]}",
           "{events: [$P], to_stage: [Production, Staging]}",
           "{events: [$S, $P], to_stage: [Production]}",
           "{events: [$P, $MV], to_stage: [Staging]}",
       }) {
    const auto loaded = LoadRegistry(registry);
    ASSERT_EQ(loaded.errors.size(), 1U) << registry << "\n" << Rendered(loaded);
    EXPECT_NE(loaded.errors[0].message.find("transition_request.created"), std::string::npos)
        << loaded.errors[0].message;
    EXPECT_NE(loaded.errors[0].message.find("to_stage: ["), std::string::npos)
        << loaded.errors[0].message;
  }
}

TEST(PipelineLoaderTest, StagesAreKeptInTheRegistrySpelling) {
  const auto loaded =
      LoadRegistry("{events: [transition_request.created], to_stage: [production, STAGING]}");
  ASSERT_TRUE(loaded.spec) << Rendered(loaded);
  EXPECT_EQ(loaded.spec->on.registry->to_stages,
            (std::vector<std::string>{"Production", "Staging"}));
}

TEST(PipelineLoaderTest, OutputsOfTransitiveUpstreamTasksAreVisible) {
  const auto loaded = LoadPipelineText(
      "on: {manual: {}}\ntasks:\n  a: {run: \"true\"}\n  b: {run: \"true\", needs: [a]}\n"
      "  c:\n    needs: [b]\n    run: ./c.sh\n    env: {X: \"${{ tasks.a.outputs.x }}\"}\n",
      "p.yaml");
  EXPECT_TRUE(loaded.spec) << Rendered(loaded);
}

TEST(PipelineLoaderTest, ReportsEveryProblemNotOnlyTheFirst) {
  const auto loaded = LoadPipelineText(
      "on: {manual: {}}\ntasks:\n  a: {run: \"true\", timeout: soon}\n  b: {run: \"true\", retries: -1}\n",
      "p.yaml");
  EXPECT_EQ(loaded.errors.size(), 2U) << Rendered(loaded);
}

TEST(PipelineLoaderTest, UnreadableFileIsAnError) {
  const auto loaded = LoadPipelineFile((kData / "does-not-exist.yaml").string());
  ASSERT_EQ(loaded.errors.size(), 1U);
  EXPECT_NE(loaded.errors[0].message.find("cannot read"), std::string::npos);
}

}  // namespace
}  // namespace stagegate::pipelines
