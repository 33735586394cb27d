#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "orchestrator/app/commands.hpp"

namespace {

constexpr const char* kDescription =
    "stagegate: event-driven CI/CD for machine-learning models.\n"
    "Receives signed model-registry webhooks, stores them durably and shows them in an API.";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kDescription, "stagegate"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");

  stagegate::app::ServeOptions serve;
  serve.program = argv[0];
  auto* serve_cmd = app.add_subcommand("serve", "Run the service (webhook ingress, API, metrics)");
  serve_cmd->add_option("--config,-c", serve.config_path,
                        "YAML config file; without it the embedded default is used");
  serve_cmd->add_option("--state-dir", serve.state_dir,
                        "Directory of the embedded default's database and generated secrets")
      ->capture_default_str();
  serve_cmd->add_option("--pipelines", serve.pipelines_dir,
                        "Directory of pipeline YAML files (overrides pipelines.dir of the config)");
  serve_cmd->add_option("--log-level", serve.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();

  stagegate::app::SendOptions send;
  auto* send_cmd = app.add_subcommand(
      "send", "Sign and post a sample or given event to a stagegate endpoint (like stripe trigger)");
  send_cmd->add_option("--url", send.url, "Endpoint URL, e.g. http://127.0.0.1:8080/hooks/mlflow")
      ->required();
  send_cmd->add_option("--scheme", send.scheme, "databricks, mlflow, standard, github or none")
      ->required();
  send_cmd->add_option("--secret", send.secret,
                       "Signing secret: env:NAME, file:PATH, or the value itself");
  send_cmd->add_option("--event", send.event_file, "Send this file's bytes as the body")
      ->check(CLI::ExistingFile);
  send_cmd->add_option("--type", send.type,
                       "Event type of the sample, canonical or the sender's spelling");
  send_cmd->add_option("--model", send.model, "Model name of the sample")->capture_default_str();
  send_cmd->add_option("--version", send.version, "Model version of the sample")->capture_default_str();
  send_cmd->add_option("--from-stage", send.from_stage, "from_stage of the sample");
  send_cmd->add_option("--to-stage", send.to_stage, "to_stage of the sample");
  send_cmd->add_option("--alias", send.alias, "Alias of the sample");
  send_cmd->add_option("--tag", send.tags, "Tag key=value of the sample (repeatable)");
  send_cmd->add_option("--text", send.text, "Text, comment or description of the sample");
  send_cmd->add_option("--header", send.headers, "Extra header 'Name: value' (repeatable)");
  send_cmd->add_option("--delivery-id", send.delivery_id, "Delivery id (default: a new UUID)");
  send_cmd->add_option("--timestamp", send.timestamp, "Signed Unix timestamp (default: now)");
  send_cmd->add_option("--timeout", send.timeout_seconds, "Seconds to wait for the answer")
      ->capture_default_str();
  send_cmd->add_flag("--dry-run", send.dry_run,
                     "Print the request (signatures redacted) instead of sending it");

  std::vector<std::string> pipeline_files;
  auto* validate_cmd = app.add_subcommand(
      "validate", "Check pipeline files and print file:line:column for every problem");
  validate_cmd->add_option("files", pipeline_files, "Pipeline YAML files")->required();

  stagegate::app::RunOptions run;
  auto* run_cmd = app.add_subcommand(
      "run", "Run one pipeline in the foreground on the local runner, without a server");
  run_cmd->add_option("pipeline", run.pipeline_file, "Pipeline YAML file")->required();
  run_cmd->add_option("--event", run.event_file,
                      "Event JSON (as GET /api/v1/events/{id} returns it) for ${{ event.* }}");
  run_cmd->add_option("--input", run.inputs, "Manual input key=value (repeatable)");
  run_cmd->add_option("--work-dir", run.work_dir, "Where work directories and logs go")
      ->capture_default_str();
  run_cmd->add_option("--max-parallel", run.max_parallel, "Tasks running at once")
      ->capture_default_str();

  stagegate::app::RegistryWebhooksOptions registry;
  auto* registry_cmd = stagegate::app::AddRegistryCommand(app, registry);

  stagegate::app::ActionOptions action;
  auto* action_cmd = stagegate::app::AddActionCommand(app, action);

  app.add_subcommand("version", "Print the version");

  const std::string first = argc > 1 ? argv[1] : "";
  if (!first.empty() && first[0] != '-' && first != "serve" && first != "send" &&
      first != "validate" && first != "run" && first != "registry" && first != "action" && first != "version") {
    std::fprintf(stderr, "stagegate: unknown command '%s'; commands: serve, send, validate, run, registry, action, version (see stagegate --help)\n",
                 argv[1]);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One clear line on misuse, instead of CLI11's multi-line output.
    std::string where = "stagegate";
    // The innermost parsed command (registry webhooks create, ...).
    for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      where += " " + sub->get_name();
    }
    std::fprintf(stderr, "%s: %s (see %s --help)\n", where.c_str(), e.what(), where.c_str());
    return 2;
  }

  if (serve_cmd->parsed()) {
    return stagegate::app::Serve(serve);
  }
  if (send_cmd->parsed()) {
    return stagegate::app::Send(send);
  }
  if (run_cmd->parsed()) {
    return stagegate::app::RunPipeline(run);
  }
  if (action_cmd->parsed()) {
    return stagegate::app::RunAction(action);
  }
  if (validate_cmd->parsed()) {
    return stagegate::app::Validate(pipeline_files);
  }
  if (registry_cmd->parsed()) {
    return stagegate::app::RegistryWebhooks(registry);
  }
  std::printf("stagegate %s\n", SG_VERSION);
  return 0;
}
