"""The committed mutation report (``make mutation``) meets issue 18's targets and matches the domain sources.

The mutation run itself is not part of ``make test`` (it takes minutes); this checks its committed result,
module by module. When a module's code changes, its entry goes stale and the test names it: re-run
``make mutation MODULES=<module>``, give any new survivor a reason in ``tests/mutation/survivors/<module>.toml``,
and commit the report.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.mutation import run


def per_module() -> list[str]:
    return list(run.scope_files())


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run.load_report()


def test_each_results_file_is_named_after_its_module() -> None:
    for path in run.RESULTS.glob("*.json"):
        module = json.loads(path.read_text(encoding="utf-8"))["module"]
        assert run.results_file(module) == path


def test_the_scope_is_issue_18s_list() -> None:
    modules = set(run.scope_files())
    backends = {run.module_name(p.relative_to(run.DOMAIN)) for p in (run.DOMAIN / "backends").glob("*.py")}
    assert "photosort.backends.local" in backends
    assert modules - backends == {f"photosort.{m}" for m in ("storage", "routing", "repository", "pipeline", "imaging")}
    assert backends <= modules


@pytest.mark.parametrize("module", per_module())
def test_each_module_was_run_on_its_current_source(report: dict[str, Any], module: str) -> None:
    assert [p for p in run.stale(report) if p.startswith(f"{module}:")] == []


@pytest.mark.parametrize("module", per_module())
def test_each_module_is_complete_meets_its_target_and_explains_its_survivors(
    report: dict[str, Any], module: str
) -> None:
    assert report["targets"]["modules"] == run.MODULE_TARGETS
    assert run.module_failures(report, module) == []


def test_the_whole_report_is_fresh_and_meets_the_targets(report: dict[str, Any]) -> None:
    assert report["targets"]["domain"] == run.DOMAIN_TARGET
    assert run.stale(report) + run.failures(report) == []


def test_the_committed_reasons_are_the_reasons_files(report: dict[str, Any]) -> None:
    """A survivor's reason in the report is the one its module's file gives today (else: ``--refresh-reasons``)."""
    for s in report["survivors"]:
        mutant = run.Mutant(s["mutant"], s["module"], s["function"], s["status"], s["original"], s["mutated"])
        assert run.load_reasons(s["module"]).reason_for(mutant) == s["reason"], (
            f"{run.reasons_file(s['module']).name} changed: run `tests/mutation/run.py --refresh-reasons`"
        )


def test_the_markdown_report_is_the_json_report_rendered(report: dict[str, Any]) -> None:
    assert run.REPORT_MD.read_text(encoding="utf-8") == run.render_markdown(report)


def test_scores_add_up(report: dict[str, Any]) -> None:
    modules = report["modules"]
    assert report["domain"] == run.total(modules)
    assert len(report["survivors"]) == report["domain"]["survived"]
    for name, m in modules.items():
        assert m["killed"] + m["survived"] == m["mutants"]
        assert sum(s["module"] == name for s in report["survivors"]) == m["survived"]


def test_the_checks_fail_when_they_should() -> None:
    """A weak module, a weak domain, an unexplained survivor, an unfinished run, a missing and a changed module
    are each caught, and a report that meets the bar passes."""

    def scored(score: float, module: str) -> dict[str, Any]:
        killed = round(score * 100)
        rel = run.scope_files()[module]
        return {
            "mutants": 100,
            "killed": killed,
            "survived": 100 - killed,
            "score": score,
            "unchecked": 0,
            "sha256": run.module_hash(rel),
        }

    good: dict[str, Any] = {
        "targets": {"modules": run.MODULE_TARGETS, "domain": run.DOMAIN_TARGET},
        "modules": {module: scored(0.9, module) for module in run.scope_files()},
        "survivors": [{"module": "photosort.storage", "function": "move", "reason": "equivalent: ..."}],
    }
    good["domain"] = run.total(good["modules"])
    assert run.failures(good) == [] and run.stale(good) == []
    weak = json.loads(json.dumps(good))
    weak["modules"]["photosort.storage"]["score"] = 0.84
    weak["modules"]["photosort.pipeline"]["score"] = 0.1  # no per-module target: only the total counts
    weak["domain"]["score"] = 0.74
    weak["survivors"][0]["reason"] = ""
    weak["modules"]["photosort.routing"]["unchecked"] = 3
    weak["modules"]["photosort.repository"]["sha256"] = "0" * 64
    del weak["modules"]["photosort.imaging"]
    assert [p.split(":")[0] + ":" + p.split(":")[1][:12] for p in run.failures(weak)] == [
        "photosort.routing: the run was",
        "photosort.storage: 84.0% kille",
        "photosort.storage: 1 survivor(",
        "domain: 74.0% kille",
    ]
    assert sorted(p.split(":")[0] for p in run.stale(weak)) == ["photosort.imaging", "photosort.repository"]


def test_tests_are_chosen_per_module() -> None:
    """The ONNX model's tests run only for the modules they exercise; the unit tests for every module."""
    assert run.tests_for(["photosort.storage", "photosort.routing"]) == ["tests/unit"]
    assert "tests/model" in run.tests_for(["photosort.backends.local"])
    assert run.tests_for(["photosort.imaging", "photosort.backends.local"]) == ["tests/unit", "tests/model"]
