#include "orchestrator/scheduler/catalog.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "pipelines/pipeline_loader.hpp"

namespace stagegate::scheduler {

namespace fs = std::filesystem;

const CatalogEntry* Catalog::Find(const std::string& name) const {
  for (const auto& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Result<CatalogPtr> LoadCatalog(const std::string& dir, std::int64_t now_ms) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Fail(ErrorCode::kInvalidArgument,
                "pipelines directory " + dir +
                    " does not exist; create it or point pipelines.dir (or --pipelines) at one");
  }
  std::vector<fs::path> files;
  for (const auto& item : fs::directory_iterator(dir, ec)) {
    const auto ext = item.path().extension().string();
    if (item.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(item.path());
  }
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  auto catalog = std::make_shared<Catalog>();
  catalog->dir = dir;
  catalog->loaded_ms = now_ms;
  for (const auto& path : files) {
    CatalogEntry entry;
    entry.file = path.string();
    entry.name = path.stem().string();
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (!in) {
      entry.errors.push_back(entry.file + ": cannot read the file");
      catalog->entries.push_back(std::move(entry));
      continue;
    }
    entry.text = buffer.str();
    auto loaded = pipelines::LoadPipelineText(entry.text, entry.file);
    if (loaded.spec) {
      entry.name = loaded.spec->name;
      entry.revision = loaded.spec->revision;
      entry.spec = std::make_shared<const PipelineSpec>(std::move(*loaded.spec));
    }
    for (const auto& d : loaded.errors) entry.errors.push_back(d.ToString());
    catalog->entries.push_back(std::move(entry));
  }
  std::map<std::string, std::vector<CatalogEntry*>> by_name;
  for (auto& e : catalog->entries) by_name[e.name].push_back(&e);
  for (auto& [name, group] : by_name) {
    if (group.size() < 2) continue;
    for (auto* e : group) {
      std::string others;
      for (const auto* o : group) {
        if (o != e) others += (others.empty() ? "" : ", ") + o->file;
      }
      e->errors.push_back(e->file + ": pipeline name '" + name + "' is also used by " + others +
                          "; give each pipeline its own name");
      e->spec.reset();
    }
  }
  return CatalogPtr(catalog);
}

}  // namespace stagegate::scheduler
