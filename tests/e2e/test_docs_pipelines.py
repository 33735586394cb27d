"""docs/pipelines.md: every ```yaml block that is a complete pipeline (it has `tasks:`) is
accepted by `stagegate validate`, and runs; a block marked with `<!-- invalid -->` on the line
before it is rejected with exactly the output shown in the plain ``` block that follows it."""

import re
import subprocess
from dataclasses import dataclass

import pytest

from conftest import REPO_ROOT, stagegate_bin

DOC = REPO_ROOT / "docs" / "pipelines.md"
INVALID_MARK = "<!-- invalid -->"
# Events to run the documented pipelines against, and inputs they require.
EVENTS = REPO_ROOT / "examples" / "events"
REQUIRED_INPUTS = {"backfill-scores": ["model=churn"]}


@dataclass
class Block:
    lang: str
    body: str
    line: int  # 1-based line of the opening fence
    marked_invalid: bool

    @property
    def is_pipeline(self):
        return self.lang == "yaml" and re.search(r"^tasks:", self.body, re.M) is not None

    @property
    def name(self):
        m = re.search(r"^name: *(\S+)", self.body, re.M)
        return m.group(1) if m else f"line-{self.line}"


def read_blocks():
    lines = DOC.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        assert end < len(lines), f"docs/pipelines.md:{i + 1}: unclosed code block"
        before = next((l.strip() for l in reversed(lines[:i]) if l.strip()), "")
        blocks.append(Block(m.group(1), "\n".join(lines[i + 1:end]) + "\n", i + 1,
                            before == INVALID_MARK))
        i = end + 1
    return blocks


BLOCKS = read_blocks()
VALID = [b for b in BLOCKS if b.is_pipeline and not b.marked_invalid]
INVALID = [(b, BLOCKS[n + 1] if n + 1 < len(BLOCKS) else None)
           for n, b in enumerate(BLOCKS) if b.marked_invalid]


def test_the_page_has_examples_to_check():
    # Guards the parser: a change that found no blocks would let every test pass vacuously.
    assert len(VALID) >= 15, [b.name for b in VALID]
    assert INVALID
    names = [b.name for b in VALID]
    assert len(set(names)) == len(names), f"two documented pipelines share a name: {names}"


@pytest.mark.parametrize("block", VALID, ids=lambda b: b.name)
def test_documented_pipeline_is_valid(block, tmp_path):
    path = tmp_path / f"{block.name}.yaml"
    path.write_text(block.body)
    out = subprocess.run([stagegate_bin(), "validate", path.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"docs/pipelines.md:{block.line}:\n{out.stdout}{out.stderr}"
    assert f"{path.name}: ok: pipeline " in out.stdout


@pytest.mark.parametrize("block", [b for b in VALID if not re.search(r"^\s+uses:", b.body, re.M)],
                         ids=lambda b: b.name)
def test_documented_pipeline_runs(block, tmp_path):
    """Pipelines made of run: tasks only succeed against an example event of their source."""
    path = tmp_path / f"{block.name}.yaml"
    path.write_text(block.body)
    databricks = re.search(r"transition|TRANSITION", block.body) is not None
    event = EVENTS / ("databricks-transition-request.json" if databricks
                      else "mlflow-model-version-created.json")
    args = [stagegate_bin(), "run", path.name, "--event", str(event), "--work-dir", "runs"]
    for item in REQUIRED_INPUTS.get(block.name, []):
        args += ["--input", item]
    out = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"docs/pipelines.md:{block.line}:\n{out.stdout}{out.stderr}"


@pytest.mark.parametrize("pair", INVALID, ids=lambda p: f"line-{p[0].line}")
def test_documented_invalid_pipeline_gives_the_documented_errors(pair, tmp_path):
    block, shown = pair
    assert block.lang == "yaml", f"docs/pipelines.md:{block.line}: {INVALID_MARK} marks a yaml block"
    assert shown is not None and shown.lang == "", \
        f"docs/pipelines.md:{block.line}: follow an invalid pipeline with its output in a ``` block"
    expected = shown.body.splitlines()
    file_name = expected[0].split(":", 1)[0]
    (tmp_path / file_name).write_text(block.body)
    out = subprocess.run([stagegate_bin(), "validate", file_name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.splitlines() == expected, out.stderr


def test_the_run_rule_rewrite_shown_in_the_docs_is_valid(tmp_path):
    """The `run:` rule section shows a task fragment; wrapped in a pipeline it validates."""
    fragment = next(b for b in BLOCKS if b.lang == "yaml" and b.body.startswith("  score:"))
    (tmp_path / "p.yaml").write_text("on: {manual: {}}\ntasks:\n" + fragment.body)
    out = subprocess.run([stagegate_bin(), "validate", "p.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
