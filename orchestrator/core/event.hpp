#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace stagegate {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Tag {
  std::string key;
  std::string value;
};

/// How a delivery was authenticated; stored with the event for audit.
struct Verification {
  std::string scheme;            // databricks | mlflow | standard | github | none
  int secret_index = -1;         // which configured secret matched; -1 when unsigned
  std::int64_t signed_at_s = 0;  // the sender's signed timestamp, 0 when the scheme has none
  std::int64_t skew_s = 0;       // received_at - signed_at, seconds
};

/// A registry (or git) event in canonical form. Empty strings mean "not present".
/// `payload` holds the request body exactly as received.
struct Event {
  std::int64_t id = 0;
  std::string endpoint;
  std::string source;    // databricks | mlflow | standard | github | none
  std::string type;      // canonical, e.g. transition_request.created
  std::string raw_type;  // as the sender spelled it, e.g. TRANSITION_REQUEST_TO_PRODUCTION_CREATED
  std::string model_name;
  std::string model_version;
  std::string from_stage;
  std::string to_stage;
  std::string alias;
  std::vector<Tag> tags;
  std::string text;
  std::string repository;  // push only
  std::string ref;
  std::string commit;
  std::string delivery_id;  // the sender's delivery id; empty for databricks
  std::string dedupe_key;   // delivery id, or a body hash when the sender has no id
  std::int64_t received_at_ms = 0;
  std::int64_t sent_at_ms = 0;  // the sender's own event or envelope time, 0 when absent
  HeaderList headers;           // with signatures and credentials redacted
  Verification verification;
  std::string payload;
};

}  // namespace stagegate
