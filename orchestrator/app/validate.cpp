#include <cstdio>

#include "orchestrator/app/commands.hpp"
#include "pipelines/pipeline_loader.hpp"

namespace stagegate::app {

int Validate(const std::vector<std::string>& files) {
  int invalid = 0;
  for (const auto& file : files) {
    const auto loaded = pipelines::LoadPipelineFile(file);
    if (loaded.spec) {
      std::printf("%s: ok: pipeline %s, %zu task%s, revision %.12s\n", file.c_str(),
                  loaded.spec->name.c_str(), loaded.spec->tasks.size(),
                  loaded.spec->tasks.size() == 1 ? "" : "s", loaded.spec->revision.c_str());
      continue;
    }
    ++invalid;
    for (const auto& d : loaded.errors) {
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
    }
  }
  if (invalid > 0) {
    std::fprintf(stderr, "%d of %zu file%s invalid\n", invalid, files.size(),
                 files.size() == 1 ? "" : "s");
  }
  return invalid == 0 ? 0 : 1;
}

}  // namespace stagegate::app
