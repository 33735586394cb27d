#!/usr/bin/env python3
"""Checks the include rules of DESIGN.md and STYLE.md §3.2 over every project source file.

core includes no other project folder; siblings never include each other; only
orchestrator/app wires concrete types. Exits 1 naming each offending line.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")

# folder -> project folders it may include (besides itself)
ALLOWED = {
    "orchestrator/core": set(),
    "orchestrator/config": {"orchestrator/core"},
    "orchestrator/store": {"orchestrator/core"},
    # The scheduler and the API interpret pipelines (pure domain logic, no I/O of its own).
    "orchestrator/scheduler": {"orchestrator/core", "pipelines"},
    "orchestrator/server": {"orchestrator/core"},
    "orchestrator/registry": {"orchestrator/core"},
    "orchestrator/api": {"orchestrator/core", "orchestrator/server", "pipelines"},
    "webhooks": {"orchestrator/core", "orchestrator/server"},
    "pipelines": {"orchestrator/core"},
    "runners": {"orchestrator/core"},
    "ml": {"orchestrator/core"},
    "orchestrator/app": None,  # the composition root may include anything
}
HEAVY_IN_CORE = re.compile(r"#include\s*<(boost/beast|yaml-cpp|sqlite3|nlohmann|libpq|git2)")
INCLUDE = re.compile(r'#include\s*"([^"]+)"')


def folder_of(rel: str):
    for folder in sorted(ALLOWED, key=len, reverse=True):
        if rel.startswith(folder + "/"):
            return folder
    return None


def main() -> int:
    problems = []
    for path in sorted(ROOT.rglob("*")):
        if path.suffix not in {".hpp", ".cpp"} or "build" in path.parts[len(ROOT.parts):][:1]:
            continue
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("tests/", "bench/", "build")):
            continue
        own = folder_of(rel)
        if own is None:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if own == "orchestrator/core" and HEAVY_IN_CORE.search(line):
                problems.append(f"{rel}:{number}: orchestrator/core must not include adapters: {line.strip()}")
            match = INCLUDE.search(line)
            if not match or ALLOWED[own] is None:
                continue
            target = folder_of(match.group(1))
            if target is not None and target != own and target not in ALLOWED[own]:
                problems.append(f"{rel}:{number}: {own} may not include {match.group(1)}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
