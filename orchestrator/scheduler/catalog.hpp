#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/core/pipeline.hpp"
#include "orchestrator/core/result.hpp"

namespace stagegate::scheduler {

/// One pipeline file as the server loaded it: valid (spec set) or not (errors set).
struct CatalogEntry {
  std::string name;  // the pipeline's name, or the file's stem when it cannot be read
  std::string file;
  std::string revision;  // SHA-256 of the bytes; empty when unreadable
  std::string text;      // the file's bytes
  std::shared_ptr<const PipelineSpec> spec;
  std::vector<std::string> errors;  // "file:line:column: message"
};

/// An immutable snapshot of the pipelines directory. A reload builds a new one.
struct Catalog {
  std::string dir;
  std::vector<CatalogEntry> entries;  // sorted by file name
  std::int64_t loaded_ms = 0;

  const CatalogEntry* Find(const std::string& name) const;
};

using CatalogPtr = std::shared_ptr<const Catalog>;

/// Loads every *.yaml and *.yml file of `dir` (not recursive). An invalid file becomes an
/// entry with errors and no spec; two files with one pipeline name both get an error. Fails
/// only when `dir` cannot be listed.
Result<CatalogPtr> LoadCatalog(const std::string& dir, std::int64_t now_ms);

}  // namespace stagegate::scheduler
