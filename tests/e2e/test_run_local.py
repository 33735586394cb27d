"""`stagegate run`: a pipeline in the foreground on the local runner, no server."""

import json
import os
import subprocess
import textwrap

from conftest import stagegate_bin

PIPELINE = textwrap.dedent("""\
    name: local-gate
    on:
      registry: {events: [transition_request.created]}
    env:
      MODEL: ${{ event.model.name }}
    tasks:
      test:
        run: |
          echo "testing $MODEL $VERSION"
          echo "auc=0.91" >> "$STAGEGATE_OUTPUT"
          echo "kept" > "$STAGEGATE_ARTIFACTS/report.txt"
        env:
          VERSION: ${{ event.model.version }}
        matrix:
          shard: ["1", "2"]
      compare:
        needs: [test]
        run: test "$AUC" = "0.91" && echo "summary=better" >> "$STAGEGATE_OUTPUT"
        env:
          AUC: ${{ tasks.test.outputs.auc }}
      approve:
        needs: [compare]
        run: echo "approving with $SUMMARY"
        env:
          SUMMARY: ${{ tasks.compare.outputs.summary }}
      reject:
        needs: [compare]
        if: failure()
        run: echo rejecting
    """)

EVENT = {"id": 7, "type": "transition_request.created",
         "model": {"name": "churn", "version": "12"}, "to_stage": "Production"}


def run(tmp_path, pipeline, event=EVENT, extra=()):
    (tmp_path / "p.yaml").write_text(pipeline)
    (tmp_path / "event.json").write_text(json.dumps(event))
    return subprocess.run([stagegate_bin(), "run", "p.yaml", "--event", "event.json",
                           "--work-dir", "runs", *extra],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_run_executes_the_dag_with_outputs_and_skips(tmp_path):
    out = run(tmp_path, PIPELINE)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = out.stdout.split("\nTASK")[1]
    lines = {l.split()[0] + (" " + l.split()[1] if l.split()[1].endswith(")") else ""): l
             for l in summary.splitlines()[1:] if l.strip() and not l.startswith("run ")}
    assert "succeeded" in lines["test (1)"] and "succeeded" in lines["test (2)"]
    assert "succeeded" in lines["compare"] and "succeeded" in lines["approve"]
    assert "skipped" in lines["reject"]
    assert "local-gate succeeded" in out.stdout
    # Each attempt kept its log, with timestamps, and the event values reached the shell via env.
    logs = sorted(p for p in (tmp_path / "runs").rglob("log.txt"))
    assert len(logs) == 4
    all_logs = "".join(p.read_text() for p in logs)
    assert "stdout | testing churn 12" in all_logs
    assert "stdout | approving with better" in all_logs
    assert list((tmp_path / "runs").rglob("report.txt"))


def test_failed_task_fails_the_run_and_runs_failure_handlers(tmp_path):
    failing = PIPELINE.replace('echo "auc=0.91"', 'echo "auc=0.50"')
    out = run(tmp_path, failing)
    assert out.returncode == 1, out.stdout
    assert "local-gate failed" in out.stdout
    summary = out.stdout.split("\nTASK")[1]
    assert any(l.startswith("compare") and "failed" in l for l in summary.splitlines())
    assert any(l.startswith("approve") and "skipped" in l for l in summary.splitlines())
    assert any(l.startswith("reject") and "succeeded" in l for l in summary.splitlines())


def test_retries_and_timeouts(tmp_path):
    pipeline = textwrap.dedent("""\
        on: {manual: {}}
        defaults: {retry_backoff: 100ms}
        tasks:
          flaky:
            retries: 2
            run: |
              n=$(cat "$STAGEGATE_WORKSPACE/../../count" 2>/dev/null || echo 0)
              n=$((n+1)); echo $n > "$STAGEGATE_WORKSPACE/../../count"
              test $n -ge 3
          slow:
            timeout: 1s
            run: sleep 30
        """)
    out = run(tmp_path, pipeline, event={})
    assert out.returncode == 1
    summary = out.stdout.split("\nTASK")[1].splitlines()
    flaky = next(l for l in summary if l.startswith("flaky"))
    assert "succeeded" in flaky and flaky.split()[2] == "3"
    slow = next(l for l in summary if l.startswith("slow"))
    assert "timed_out" in slow


def test_invalid_pipeline_and_bad_event_are_reported(tmp_path):
    out = run(tmp_path, "on: {manual: {}}\ntasks:\n  a:\n    run: echo ${{ event.x }}\n")
    assert out.returncode == 1
    assert "p.yaml:4:10: task 'a': run: must not contain ${{ }}" in out.stderr, out.stderr
    (tmp_path / "ok.yaml").write_text("on: {manual: {}}\ntasks:\n  a: {run: \"true\"}\n")
    (tmp_path / "bad.json").write_text("[1, 2]")
    out = subprocess.run([stagegate_bin(), "run", "ok.yaml", "--event", "bad.json"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "bad.json must hold a JSON object" in out.stderr
    out = subprocess.run([stagegate_bin(), "run", "ok.yaml", "--input", "nope=1"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    # Inputs are checked as the server checks them: names, types, required ones.
    assert out.returncode == 2
    assert "declares no input 'nope'; it takes no inputs" in out.stderr, out.stderr
    (tmp_path / "typed.yaml").write_text(
        "on: {manual: {inputs: {days: {type: number, required: true}}}}\n"
        "tasks:\n  a: {run: 'test \"$D\" = 7', env: {D: '${{ inputs.days }}'}}\n")
    for args, message in [(["--input", "days=abc"], "input 'days' must be a number"),
                          ([], "input 'days' is required; pass --input days=VALUE")]:
        out = subprocess.run([stagegate_bin(), "run", "typed.yaml", *args], cwd=tmp_path,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and message in out.stderr, out.stderr
    out = subprocess.run([stagegate_bin(), "run", "typed.yaml", "--input", "days=7"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_killed_run_is_abandoned_not_resumed_by_the_next_command(tmp_path):
    (tmp_path / "slow.yaml").write_text("on: {manual: {}}\ntasks:\n  slow: {run: sleep 30}\n")
    (tmp_path / "quick.yaml").write_text("on: {manual: {}}\ntasks:\n  quick: {run: echo hi}\n")
    first = subprocess.Popen([stagegate_bin(), "run", "slow.yaml", "--work-dir", "runs"],
                             cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    for line in first.stdout:
        if "slow" in line and "running" in line:
            break
    first.kill()
    first.wait(timeout=10)
    out = subprocess.run([stagegate_bin(), "run", "quick.yaml", "--work-dir", "runs"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "slow" not in out.stdout, out.stdout
    import sqlite3
    con = sqlite3.connect(tmp_path / "runs" / "runs.db")
    rows = dict(con.execute("SELECT pipeline, status || ': ' || detail FROM runs").fetchall())
    con.close()
    assert rows["slow"].startswith("failed: abandoned"), rows
    assert rows["quick"].startswith("succeeded"), rows
    # The killed command's task outlives it in its own process group: end it.
    for pid_file in (tmp_path / "runs" / "runs").rglob("pid"):
        pid = int(pid_file.read_text().strip().split(":")[1])
        try:
            os.killpg(pid, 9)
        except ProcessLookupError:
            pass


def test_tasks_find_files_next_to_their_pipeline(tmp_path):
    # A pipeline kept in a folder with its scripts calls them through the pipeline's directory,
    # whatever directory stagegate runs in: $STAGEGATE_PIPELINE_DIR for run: tasks,
    # ${{ run.pipeline_dir }} in expressions (with: of uses: tasks, env:).
    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "check.sh").write_text('echo "checked from $PWD"\necho "ok=yes" >> "$STAGEGATE_OUTPUT"\n')
    (project / "pipelines" / "p.yaml").write_text(textwrap.dedent("""\
        name: beside
        on: {manual: {}}
        tasks:
          check:
            run: sh "$STAGEGATE_PIPELINE_DIR/../check.sh"
          same:
            needs: [check]
            env:
              DIR: ${{ run.pipeline_dir }}
            run: test "$DIR" = "$STAGEGATE_PIPELINE_DIR" && test -f "$DIR/p.yaml"
        """))
    out = subprocess.run([stagegate_bin(), "run", "project/pipelines/../pipelines/p.yaml",
                          "--work-dir", "runs"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    log = next((tmp_path / "runs").rglob("check/1/log.txt")).read_text()
    assert "checked from" in log, log
