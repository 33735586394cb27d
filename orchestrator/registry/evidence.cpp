#include "orchestrator/registry/evidence.hpp"

#include <charconv>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrator/registry/registry_json.hpp"

namespace stagegate::registry {
namespace {

using nlohmann::json;

bool IsNumber(const std::string& s) {
  if (s.empty()) return false;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Table cells: no pipes or line breaks.
std::string Cell(std::string s) {
  for (char& c : s) {
    if (c == '|' || c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

// A log tail inside a fenced block must not close the fence.
std::string Fenced(std::string text) {
  for (std::size_t at = text.find("```"); at != std::string::npos; at = text.find("```", at)) {
    text.replace(at, 3, "'''");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return "```text\n" + text + "\n```\n";
}

}  // namespace

std::string LogTail(const std::string& path, int max_lines, std::size_t max_bytes) {
  if (path.empty()) return {};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  const long from = size > static_cast<long>(max_bytes) ? size - static_cast<long>(max_bytes) : 0;
  std::fseek(f, from, SEEK_SET);
  std::string text(static_cast<std::size_t>(size - from), '\0');
  const std::size_t got = std::fread(text.data(), 1, text.size(), f);
  std::fclose(f);
  text.resize(got);
  if (from > 0) {  // drop the partial first line
    const auto nl = text.find('\n');
    text = nl == std::string::npos ? std::string() : text.substr(nl + 1);
  }
  while (!text.empty() && text.back() == '\n') text.pop_back();
  int lines = 0;
  for (std::size_t i = text.size(); i-- > 0;) {
    if (text[i] == '\n' && ++lines == max_lines) return text.substr(i + 1);
  }
  return text;
}

std::string EvidenceMarkdown(const EvidenceInput& in, std::size_t max_bytes) {
  const json run = json::parse(in.run_json.empty() ? "{}" : in.run_json, nullptr, false);
  const json tasks = run.is_object() && run.contains("tasks") && run["tasks"].is_array() ? run["tasks"]
                                                                                        : json::array();
  struct Failed {
    std::string id, detail, tail;
  };
  std::vector<Failed> failed;
  std::string metrics;
  std::string table;
  for (const auto& t : tasks) {
    const std::string id = StringField(t, "id");
    const std::string state = StringField(t, "state");
    table += "| " + Cell(id) + " | " + Cell(state) + " |\n";
    if (state == "failed" || state == "timed_out") {
      failed.push_back({id, StringField(t, "detail"), LogTail(StringField(t, "log_path"))});
    }
    if (const auto o = t.find("outputs"); o != t.end() && o->is_object()) {
      for (const auto& [name, value] : o->items()) {
        if (value.is_string() && IsNumber(value.get<std::string>())) {
          metrics += "| " + Cell(id) + " | " + Cell(name) + " | " + value.get<std::string>() + " |\n";
        }
      }
    }
  }
  std::string verdict = in.verdict;
  if (verdict.empty()) verdict = failed.empty() ? "passed" : "failed";
  const bool good = verdict == "approved" || verdict == "passed";

  std::string head = "### stagegate: " + verdict + (good ? " \u2705" : " \u274c") + "\n\n";
  if (!in.note.empty()) head += in.note + "\n\n";
  std::string subject;
  if (!in.model.empty()) {
    subject = "model `" + in.model + "`" + (in.version.empty() ? "" : " version " + in.version) +
              (in.stage.empty() ? "" : " \u2192 " + in.stage);
  }
  const std::string pipeline = run.is_object() ? StringField(run, "pipeline") : "";
  const std::string run_id = run.is_object() ? StringField(run, "id") : "";
  std::string run_ref = run_id.empty() ? "" : "run " + run_id;
  if (!run_ref.empty() && !in.run_url.empty()) run_ref = "[run " + run_id + "](" + in.run_url + ")";
  if (!pipeline.empty() || !run_ref.empty() || !subject.empty()) {
    head += "Pipeline **" + (pipeline.empty() ? std::string("?") : pipeline) + "**" +
            (run_ref.empty() ? "" : ", " + run_ref) + (subject.empty() ? "" : ", for " + subject) + ".\n\n";
  }
  std::string body;
  if (!table.empty()) body += "| task | status |\n|---|---|\n" + table + "\n";
  if (!metrics.empty()) body += "#### Metrics\n\n| task | metric | value |\n|---|---|---|\n" + metrics + "\n";

  // Failed tasks last, so that trimming to the cap cuts log tails, not the verdict.
  std::string failures;
  if (!failed.empty()) {
    failures += "#### Failed tasks\n\n";
    for (const auto& f : failed) {
      failures += "**" + f.id + "**" + (f.detail.empty() ? "" : ": " + f.detail) + "\n\n";
      if (!f.tail.empty()) failures += Fenced(f.tail) + "\n";
    }
  }
  std::string out = head + body + failures;
  if (out.size() > max_bytes) {
    const std::string cut = "\n\n(trimmed to " + std::to_string(max_bytes) + " bytes; the run has the full logs)\n";
    std::size_t keep = max_bytes > cut.size() ? max_bytes - cut.size() : 0;
    // Stay on a UTF-8 character boundary.
    while (keep > 0 && (static_cast<unsigned char>(out[keep]) & 0xC0) == 0x80) --keep;
    out = out.substr(0, keep);
    std::size_t fences = 0;
    for (std::size_t at = out.find("```"); at != std::string::npos; at = out.find("```", at + 3)) ++fences;
    if (fences % 2 == 1) out += "\n```";  // close a log block the cut left open
    out += cut;
  }
  return out;
}

}  // namespace stagegate::registry
