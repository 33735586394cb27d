#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/core/registry.hpp"
#include "orchestrator/core/result.hpp"

namespace stagegate::registry {

/// A registry webhook as both dialects describe it. Fields one dialect lacks stay empty: an
/// MLflow webhook has a name and no model (it fires for every model), a Databricks one has no
/// name and a model unless it is registry-wide. The secret is write-only in both APIs and so
/// never appears here.
struct RegistryWebhook {
  std::string id;          // Databricks `id`, MLflow `webhook_id`
  std::string name;        // MLflow only
  std::string model_name;  // Databricks only; empty: registry-wide
  /// Databricks event names (MODEL_VERSION_CREATED, ...); MLflow events as "entity.action" in
  /// lower case (model_version.created), whatever spelling the server answered with.
  std::vector<std::string> events;
  std::string status;  // ACTIVE, DISABLED, TEST_MODE (Databricks)
  std::string url;     // http_url_spec.url (Databricks) or url (MLflow)
  std::string job_id;  // a Databricks job webhook's job_spec.job_id (no url then)
  std::string description;
  std::int64_t creation_ms = 0;
  std::int64_t last_updated_ms = 0;
};

/// What Create sends. Empty fields are left out of the request.
struct WebhookSpec {
  std::string name;        // MLflow: required
  std::string model_name;  // Databricks: empty makes a registry-wide webhook; MLflow: unused
  std::vector<std::string> events;  // in the dialect's spelling (see RegistryWebhook::events)
  std::string url;
  std::string secret;         // the HMAC key deliveries are signed with; empty: unsigned
  std::string authorization;  // Databricks: Authorization header value sent with deliveries
  std::string status;         // empty: the registry's default (ACTIVE)
  std::string description;
};

/// What Update changes; unset fields are left as they are. On Databricks the URL, secret and
/// authorization travel together in http_url_spec, which replaces the old one whole: changing
/// the URL or the secret needs both (and drops an authorization not given again).
struct WebhookChanges {
  std::optional<std::string> name;  // MLflow only
  std::optional<std::vector<std::string>> events;
  std::optional<std::string> url;
  std::optional<std::string> secret;
  std::optional<std::string> authorization;  // Databricks only
  std::optional<std::string> status;
  std::optional<std::string> description;

  bool Empty() const {
    return !name && !events && !url && !secret && !authorization && !status && !description;
  }
};

/// What the registry's test call relayed from the webhook's URL.
struct WebhookTestResult {
  int status = 0;     // the URL's HTTP status; 0 when there was none (e.g. connection refused)
  std::string body;   // the URL's answer
  std::string error;  // MLflow's error_message (why nothing was delivered)
  /// MLflow's own verdict (status < 400) when it gives one; otherwise a 2xx status.
  bool success = false;
};

/// The events a webhook made by stagegate subscribes to when none are given: Databricks
/// TRANSITION_REQUEST_CREATED and MODEL_VERSION_CREATED; MLflow model_version.created,
/// model_version_alias.created and model_version_tag.set.
std::vector<std::string> DefaultWebhookEvents(RegistryDialect dialect);

/// Every event the dialect's webhooks can subscribe to (protocols.md §1.2, §3.1).
std::vector<std::string> KnownWebhookEvents(RegistryDialect dialect);

/// The name stagegate gives an MLflow webhook for `model` ("stagegate-<model>", or "stagegate"
/// without a model). MLflow webhooks belong to no model: this name is what ties one to a
/// model for List and the command line's delete --model --all.
std::string DefaultWebhookName(const std::string& model);

/// The registry-webhook management APIs over a RegistryTransport: Databricks
/// registry-webhooks/{create,list,update,delete,test} (protocols.md §1.4) and MLflow 3.x
/// /api/2.0/mlflow/webhooks (§3.6). Errors are mapped as RestRegistryClient maps them
/// (registry_errors.hpp), naming the call. Thread-compatible; blocking.
class WebhookAdmin final {
 public:
  WebhookAdmin(RegistryDialect dialect, std::shared_ptr<RegistryTransport> transport);

  RegistryDialect dialect() const { return dialect_; }

  /// Every webhook, following next_page_token to the last page. With a model: Databricks
  /// passes model_name to the registry and keeps the webhooks of exactly that model (never a
  /// registry-wide one); MLflow keeps the webhooks named DefaultWebhookName(model).
  Result<std::vector<RegistryWebhook>> List(const std::string& model = {});
  Result<RegistryWebhook> Create(const WebhookSpec& spec);
  Result<RegistryWebhook> Update(const std::string& id, const WebhookChanges& changes);
  /// Databricks sends the id as ?id= (as the SDK does); MLflow puts it in the path.
  Result<void> Delete(const std::string& id);
  /// Has the registry deliver a test event (empty: the registry picks one) to the webhook's URL.
  Result<WebhookTestResult> Test(const std::string& id, const std::string& event = {});

 private:
  RegistryDialect dialect_;
  std::shared_ptr<RegistryTransport> transport_;
};

}  // namespace stagegate::registry
