#pragma once

#include <string>

namespace stagegate::registry {

struct EvidenceInput {
  std::string verdict;   // "approved", "rejected", or empty: passed/failed from the tasks
  std::string run_json;  // JobSpec::run_json
  std::string run_url;   // link to the run; empty: none
  std::string model;
  std::string version;
  std::string stage;     // target stage or alias, if any
  std::string note;      // the pipeline's own comment (with: comment), shown first
};

/// The Markdown comment a registry action posts: verdict, the run link, a table of the
/// numeric task outputs (metrics), and each failed task with the tail of its log. Logs are
/// read from the tasks' log paths (already redacted by their runner); the text is capped at
/// `max_bytes`, trimming log tails first.
std::string EvidenceMarkdown(const EvidenceInput& input, std::size_t max_bytes = 16 * 1024);

/// The last `max_lines` lines of a file (at most `max_bytes` read from its end); empty when
/// the file cannot be read.
std::string LogTail(const std::string& path, int max_lines = 20, std::size_t max_bytes = 4096);

}  // namespace stagegate::registry
