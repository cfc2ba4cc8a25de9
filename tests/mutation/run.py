"""Mutation testing of the domain layer (``layers/core/photosort``) with mutmut: ``make mutation``.

Scope (issue 18): ``storage``, ``routing``, ``repository``, ``pipeline``, ``imaging`` and every module of
``backends/``. Results are kept per module: ``make mutation MODULES="photosort.storage photosort.routing"``
(``run.py --only ...``, fnmatch patterns on module names) mutates only those modules and merges their results
into the committed report, keeping the other modules' entries. The report is one file per module,
``tests/mutation/results/<module>.json`` (score, survivors, the run that made it, and the SHA-256 of the module's
syntax tree), rendered together as ``tests/mutation/report.md``; ``tests/mutation/test_report.py`` (in
``make test``) names the module that went stale. Branches that ran different modules merge without conflicts
except in ``report.md``, which ``run.py --render`` rebuilds from the results.

mutmut expects the package under ``src/`` (it names mutants by file path), while photosort maps it from
``layers/core/photosort`` with ``package-dir``. So this script lays out a workspace in ``.mutation/``: the
domain sources as ``src/photosort``, a copy of ``tests/`` and the repository files the tests read, and a
``pyproject.toml`` with the mutmut settings (``only_mutate`` lists the selected modules' files). mutmut then
puts ``mutants/src`` first on ``sys.path``, ahead of the editable install, so the tests import the mutated
package. mutmut runs each mutant against only the tests that call the mutated function (its per-test
coverage from one stats run); the test kinds given to that stats run are chosen per module (``TESTS``).

The reasons for survivors live in one file per module, ``tests/mutation/survivors/<module>.toml`` (for
example ``storage.toml``, ``backends.local.toml``), plus ``_common.toml`` for rules that hold in every module.
A survivor is keyed by function and the text of the lines the mutation changed (never by line number or
mutant number, which shift with every edit), so reasons survive re-runs. ``--write-missing`` appends stubs
for the report's unexplained survivors to their module's file; ``--refresh-reasons`` re-applies the reason
files to the committed report without running mutmut.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOMAIN = REPO / "layers" / "core" / "photosort"
HERE = REPO / "tests" / "mutation"
WORKSPACE = REPO / ".mutation"
RESULTS = HERE / "results"  # one <module>.json each: its score, source hash, run and survivors
REPORT_MD = HERE / "report.md"  # all of them rendered
SURVIVORS = HERE / "survivors"
COMMON_REASONS = SURVIVORS / "_common.toml"
MUTATED_COPY = WORKSPACE / "src" / "photosort"
LAST_RUN = WORKSPACE / "run.json"

# Issue 18's scope: fnmatch patterns on module names.
SCOPE = [
    "photosort.storage",
    "photosort.routing",
    "photosort.repository",
    "photosort.pipeline",
    "photosort.imaging",
    "photosort.backends",
    "photosort.backends.*",
]
# The fast test kinds given to mutmut's stats run: the unit tests (moto in-process or fakes) for every module,
# and the local model's tests only for the modules they exercise (the ONNX model is slow to run). mutmut then
# runs each mutant against only those of these tests that call the mutated function. No embedded stack.
BASE_TESTS = ["tests/unit"]
EXTRA_TESTS = {
    "photosort.backends.local": ["tests/model"],
    "photosort.imaging": ["tests/model/test_pixel_limit.py"],
}
# Files the selected tests read from the repository root.
ALSO_COPY = ["template.yaml", "events", "statemachine"]
# Targets from issue 18: per listed module, and across the whole scope.
MODULE_TARGETS = {"photosort.storage": 0.85, "photosort.routing": 0.85, "photosort.repository": 0.85}
DOMAIN_TARGET = 0.75

# mutmut's exit codes (mutmut.stats.status_by_exit_code). A timeout or crash is a detected mutant.
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
SURVIVED = {"survived", "no tests", "suspicious"}


def module_name(rel: Path) -> str:
    parts = ["photosort", *rel.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def in_scope(module: str, patterns: list[str] = SCOPE) -> bool:
    return any(fnmatch.fnmatchcase(module, p) for p in patterns)


def scope_files(root: Path = DOMAIN) -> dict[str, Path]:
    """The mutated modules and their files (relative to the package directory), by module name."""
    files = sorted(p.relative_to(root) for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    return {module_name(rel): rel for rel in files if in_scope(module_name(rel))}


def module_hash(rel: Path, root: Path = DOMAIN) -> str:
    """SHA-256 over a file's path and syntax tree: formatting and comments do not make it stale."""
    tree = ast.parse((root / rel).read_text(encoding="utf-8"))
    return hashlib.sha256(rel.as_posix().encode() + b"\0" + ast.dump(tree, annotate_fields=False).encode()).hexdigest()


def tests_for(modules: list[str]) -> list[str]:
    tests = list(BASE_TESTS)
    for module in modules:
        tests += [t for t in EXTRA_TESTS.get(module, []) if t not in tests]
    # a file inside a folder that is already selected would run twice
    return [t for t in tests if not any(t != o and t.startswith(o.rstrip("/") + "/") for o in tests)]


def reasons_file(module: str) -> Path:
    """``tests/mutation/survivors/<module without "photosort.">.toml``."""
    return SURVIVORS / f"{module.removeprefix('photosort.')}.toml"


def results_file(module: str) -> Path:
    """``tests/mutation/results/<module without "photosort.">.json``."""
    return RESULTS / f"{module.removeprefix('photosort.')}.json"


# -- the workspace --------------------------------------------------------------------------------------------
def _pytest_options() -> dict[str, Any]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    options = dict(root["tool"]["pytest"]["ini_options"])
    options.pop("testpaths", None)
    return options


def _toml_value(value: Any) -> str:
    return json.dumps(value)  # JSON strings, numbers and lists of them are valid TOML


# Appended to the workspace's tests/conftest.py. Starting and stopping moto's outermost mock costs about a
# second per test; inside one that stays active, each test's own ``mock_aws()`` costs milliseconds. moto does
# not reset on a nested start, so an autouse fixture empties every backend before each test instead. The mock
# starts once at import, in mutmut's parent process, so every forked mutant inherits it.
SESSION_MOCK = """

# -- added by tests/mutation/run.py (mutation workspace only) --
import builtins as _builtins

if not getattr(_builtins, "_photosort_mutation_mock", None):
    from moto import mock_aws as _mock_aws

    _builtins._photosort_mutation_mock = _mock_aws()
    _builtins._photosort_mutation_mock.start()


@pytest.fixture(autouse=True)
def _fresh_moto_backends() -> None:
    from moto.core.base_backend import BackendDict

    BackendDict.reset()  # a nested mock_aws() does not reset: every test starts from empty backends
"""


def prepare_workspace(modules: list[str], tests: list[str]) -> None:
    if WORKSPACE.exists():
        shutil.rmtree(WORKSPACE)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    shutil.copytree(DOMAIN, MUTATED_COPY, ignore=ignore)
    shutil.copytree(REPO / "tests", WORKSPACE / "tests", ignore=ignore)
    with (WORKSPACE / "tests" / "conftest.py").open("a", encoding="utf-8") as conftest:
        conftest.write(SESSION_MOCK)
    for name in ALSO_COPY:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, WORKSPACE / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, WORKSPACE / name)
    files = scope_files()
    mutmut = {
        "source_paths": ["src"],
        "only_mutate": [f"src/photosort/{files[m].as_posix()}" for m in modules],
        "also_copy": ALSO_COPY,
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "no:randomly"],
        "timeout_multiplier": 3.0,
        "timeout_constant": 4.0,
        "use_git_change_detection": False,
    }
    lines = ["[tool.mutmut]", *(f"{k} = {_toml_value(v)}" for k, v in mutmut.items()), "", "[tool.pytest.ini_options]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in _pytest_options().items()]
    (WORKSPACE / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_mutmut(max_children: int) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    command = [sys.executable, str(HERE / "mutmut_main.py"), "run", "--max-children", str(max_children)]
    print(f"$ (cd {WORKSPACE.relative_to(REPO)} && mutmut {' '.join(command[2:])})", flush=True)
    result = subprocess.run(command, cwd=WORKSPACE, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"mutmut run failed with exit code {result.returncode}")


# -- results ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutant:
    name: str
    module: str
    function: str
    status: str
    original: str
    mutated: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.function, self.original, self.mutated)


def _squash(lines: list[str]) -> str:
    return " / ".join(re.sub(r"\s+", " ", line).strip() for line in lines if line.strip())


def _function_of(mutant_name: str) -> str:
    mangled = mutant_name.partition("__mutmut_")[0].rpartition(".")[2]
    if mangled.startswith("x_"):
        return mangled[2:]
    return ".".join(part for part in mangled.split("ǁ")[1:] if part)


def collect_mutants(modules: list[str]) -> list[Mutant]:
    """The results of the last run in the workspace, for these modules."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    mutants: list[Mutant] = []
    files = scope_files(MUTATED_COPY)
    cwd = os.getcwd()
    os.chdir(WORKSPACE)
    try:
        for module in modules:
            rel = files[module]
            meta = Path("mutants") / "src" / "photosort" / (rel.as_posix() + ".meta")
            if not meta.exists():
                continue
            codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
            path = Path("src") / "photosort" / rel
            for name, code in sorted(codes.items()):
                status = status_by_exit_code[code]
                original = mutated = ""
                if status in SURVIVED:
                    diff = get_diff_for_mutant(name, path=path).splitlines()
                    original = _squash([d[1:] for d in diff if d.startswith("-") and not d.startswith("---")])
                    mutated = _squash([d[1:] for d in diff if d.startswith("+") and not d.startswith("+++")])
                mutants.append(Mutant(name, module, _function_of(name), status, original, mutated))
    finally:
        os.chdir(cwd)
    return mutants


@dataclass(frozen=True)
class Rule:
    """A ``[[rule]]`` entry: one reason for a class of survivors (fnmatch on the function, regular expressions
    searched in the original and mutated text, optionally one mutmut status)."""

    reason: str
    function: str = "*"
    original: str = ""
    mutated: str = ""
    status: str = ""

    def matches(self, m: Mutant) -> bool:
        return (
            fnmatch.fnmatchcase(m.function, self.function)
            and re.search(self.original, m.original) is not None
            and re.search(self.mutated, m.mutated) is not None
            and (not self.status or self.status == m.status)
        )


@dataclass(frozen=True)
class Reasons:
    """One module's reasons: its ``[[survivor]]`` entries (exact), its ``[[rule]]`` entries, then the common rules."""

    survivors: dict[tuple[str, str, str], str]
    rules: list[Rule]

    def reason_for(self, m: Mutant) -> str:
        """The mutant's own reason, else the first rule that matches it, else ''."""
        if self.survivors.get(m.key):
            return self.survivors[m.key]
        return next((r.reason.strip() for r in self.rules if r.matches(m)), "")


def _load_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def load_reasons(module: str) -> Reasons:
    own = _load_toml(reasons_file(module))
    survivors = {
        (entry["function"], _squash([entry["original"]]), _squash([entry["mutated"]])): entry.get("reason", "").strip()
        for entry in own.get("survivor", [])
    }
    rules = [Rule(**entry) for entry in [*own.get("rule", []), *_load_toml(COMMON_REASONS).get("rule", [])]]
    return Reasons(survivors, rules)


def _toml_string(text: str) -> str:
    return "'''" + text + "'''" if "'''" not in text and not text.endswith("'") else json.dumps(text)


def write_missing(report: dict[str, Any]) -> None:
    """Append a stub for each of the report's unexplained survivors to its module's reasons file."""
    by_file: dict[Path, list[str]] = {}
    seen: set[tuple[str, str, str, str]] = set()
    for s in report["survivors"]:
        key = (s["module"], s["function"], s["original"], s["mutated"])
        if s["reason"] or key in seen:
            continue
        seen.add(key)
        by_file.setdefault(reasons_file(s["module"]), []).append(
            "\n[[survivor]]\n"
            f"function = {_toml_string(s['function'])}\n"
            f"original = {_toml_string(s['original'])}\n"
            f"mutated = {_toml_string(s['mutated'])}\n"
            'reason = ""\n'
        )
    for path, blocks in by_file.items():
        if not path.exists():
            path.write_text(
                f"# Why each surviving mutant of {path.stem} may stay: see _common.toml.\n", encoding="utf-8"
            )
        with path.open("a", encoding="utf-8") as out:
            out.write("".join(blocks))
        print(f"appended {len(blocks)} stub(s) to {path.relative_to(REPO)}: fill in each reason")


def _tally(killed: int, survived: int) -> dict[str, Any]:
    count = killed + survived
    return {
        "mutants": count,
        "killed": killed,
        "survived": survived,
        "score": round(killed / count, 4) if count else 1.0,
    }


def score(mutants: list[Mutant]) -> dict[str, Any]:
    return _tally(sum(m.status in KILLED for m in mutants), sum(m.status in SURVIVED for m in mutants))


def total(modules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return _tally(sum(m["killed"] for m in modules.values()), sum(m["survived"] for m in modules.values()))


def survivor_entry(m: Mutant, reasons: Reasons) -> dict[str, str]:
    return {
        "module": m.module,
        "function": m.function,
        "status": m.status,
        "original": m.original,
        "mutated": m.mutated,
        "reason": reasons.reason_for(m),
        "mutant": m.name,
    }


def module_entries(mutants: list[Mutant], modules: list[str], run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each module's entry: its score, the hash of the copy that was mutated (so that a source edited during the
    run cannot make the report look current), and the run that produced it."""
    from importlib.metadata import version

    files = scope_files(MUTATED_COPY)
    entries = {}
    for module in modules:
        own = [m for m in mutants if m.module == module]
        entries[module] = {
            "tool": f"mutmut {version('mutmut')}",
            "file": f"layers/core/photosort/{files[module].as_posix()}",
            "sha256": module_hash(files[module], MUTATED_COPY),
            **score(own),
            # mutants the run did not get to (a run stopped early, reported with --partial); complete: 0
            "unchecked": sum(m.status not in KILLED | SURVIVED for m in own),
            "run": run,
        }
    return entries


def assemble(modules: dict[str, dict[str, Any]], survivors: list[dict[str, str]]) -> dict[str, Any]:
    """The whole report: the modules' entries and survivors, the targets, and the total over the modules."""
    return {
        "command": "make mutation",
        "scope": SCOPE,
        "targets": {"modules": MODULE_TARGETS, "domain": DOMAIN_TARGET},
        "modules": dict(sorted(modules.items())),
        "domain": total(modules),
        "survivors": sorted(survivors, key=lambda s: (s["module"], s["mutant"])),
    }


def load_report() -> dict[str, Any]:
    """The committed report: every ``results/<module>.json``."""
    modules: dict[str, dict[str, Any]] = {}
    survivors: list[dict[str, str]] = []
    for path in sorted(RESULTS.glob("*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        survivors += entry.pop("survivors")
        modules[entry.pop("module")] = entry
    return assemble(modules, survivors)


def merge(
    report: dict[str, Any], entries: dict[str, dict[str, Any]], survivors: list[dict[str, str]]
) -> dict[str, Any]:
    """The report with these modules' entries and survivors replaced, the others kept; modules that left the
    scope are dropped."""
    scope = scope_files()
    modules = {k: v for k, v in {**report["modules"], **entries}.items() if k in scope}
    kept = [s for s in report["survivors"] if s["module"] not in entries and s["module"] in scope]
    return assemble(modules, [*kept, *survivors])


def refresh_reasons(report: dict[str, Any]) -> dict[str, Any]:
    """The report with every survivor's reason re-read from the reasons files (scores do not change)."""
    reasons = {module: load_reasons(module) for module in report["modules"]}
    for s in report["survivors"]:
        m = Mutant(s["mutant"], s["module"], s["function"], s["status"], s["original"], s["mutated"])
        s["reason"] = reasons[s["module"]].reason_for(m)
    return report


def stale(report: dict[str, Any], root: Path = DOMAIN) -> list[str]:
    """Modules whose entry does not match the sources: missing, no longer in scope, or changed since."""
    files = scope_files(root)
    problems = []
    for module, rel in files.items():
        entry = report["modules"].get(module)
        if entry is None:
            problems.append(f"{module}: not in the report: run `make mutation MODULES={module}`")
        elif entry["sha256"] != module_hash(rel, root):
            problems.append(f"{module}: changed since its mutation run: run `make mutation MODULES={module}`")
    problems += [f"{module}: no longer a mutated module" for module in report["modules"] if module not in files]
    return problems


def module_failures(report: dict[str, Any], module: str) -> list[str]:
    """Why one module's entry does not meet issue 18's bar (empty when it does)."""
    problems = []
    got = report["modules"].get(module)
    if got is None:
        return [f"{module}: not in the report"]
    if got["unchecked"]:
        problems.append(f"{module}: the run was stopped early: {got['unchecked']} mutants not checked")
    target = report["targets"]["modules"].get(module)
    if target is not None and got["score"] < target:
        problems.append(f"{module}: {got['score']:.1%} killed, target {target:.0%}")
    unexplained = [s for s in report["survivors"] if s["module"] == module and not s["reason"]]
    if unexplained:
        path = reasons_file(module).relative_to(REPO)
        problems.append(f"{module}: {len(unexplained)} survivor(s) without a reason in {path}")
    return problems


def failures(report: dict[str, Any]) -> list[str]:
    """Why the whole report does not meet issue 18's bar (empty when it does)."""
    problems = [p for module in report["modules"] for p in module_failures(report, module)]
    problems += [
        f"{m}: not in the report: run `make mutation MODULES={m}`"
        for m in report["targets"]["modules"]
        if m not in report["modules"]
    ]
    if report["domain"]["score"] < report["targets"]["domain"]:
        problems.append(f"domain: {report['domain']['score']:.1%} killed, target {report['targets']['domain']:.0%}")
    return problems


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Mutation testing report (domain layer)",
        "",
        (
            f"Generated by `{report['command']}` from `tests/mutation/results/`, one entry per module (re-run one with "
            '`make mutation MODULES="photosort.storage"`). Do not edit: regenerate it; the reasons for survivors '
            "live in `tests/mutation/survivors/<module>.toml`."
        ),
        "",
        "| module | mutants | killed | survived | score | target | run | tests | source hash |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for module, s in report["modules"].items():
        target = report["targets"]["modules"].get(module)
        run = s["run"]
        lines.append(
            f"| `{module}` | {s['mutants']} | {s['killed']} | {s['survived']} | {s['score']:.1%} | "
            f"{f'{target:.0%}' if target else ''} | {s['tool']}, {run['generated']}, {run['duration_seconds']} s for "
            f"{len(run['modules'])} module(s), {run['max_children']} children on {run['cpus']} CPUs | "
            f"{', '.join(run['tests'])} | `{s['sha256'][:12]}` |"
        )
    d = report["domain"]
    if not report["modules"]:
        lines.append("| *(no module has a committed run yet)* | | | | | | | | |")
    lines.append(
        f"| **all of the above** | {d['mutants']} | {d['killed']} | {d['survived']} | **{d['score']:.1%}** | "
        f"{report['targets']['domain']:.0%} | | | |"
    )
    unchecked = {module: s["unchecked"] for module, s in report["modules"].items() if s["unchecked"]}
    if unchecked:
        lines += ["", f"**Incomplete runs:** mutants not checked: {unchecked}."]
    lines += ["", "## Survivors", ""]
    current = None
    for s in report["survivors"]:
        if s["module"] != current:
            current = s["module"]
            lines += ["", f"### `{current}`", ""]
        lines.append(
            f"- `{s['function']}`: `{s['original']}` → `{s['mutated']}` ({s['status']}). "
            f"{s['reason'] or '**NO REASON YET**'}"
        )
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any]) -> None:
    """One ``results/<module>.json`` per module (so that branches which ran different modules merge without
    conflicts), and ``report.md``, which renders them all (after a merge: ``run.py --render``)."""
    RESULTS.mkdir(exist_ok=True)
    written = set()
    for module, entry in report["modules"].items():
        own = [s for s in report["survivors"] if s["module"] == module]
        path = results_file(module)
        path.write_text(
            json.dumps({"module": module, **entry, "survivors": own}, indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        written.add(path)
    for path in RESULTS.glob("*.json"):
        if path not in written:
            path.unlink()  # a module that left the scope
    REPORT_MD.write_text(render_markdown(report), encoding="utf-8")


def select(patterns: list[str]) -> list[str]:
    modules = sorted(scope_files())
    if not patterns:
        return modules
    chosen = [m for m in modules if in_scope(m, patterns)]
    if not chosen:
        raise SystemExit(f"no mutated module matches {patterns}; the modules are: {' '.join(modules)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-children", type=int, default=min(2, os.cpu_count() or 2))
    parser.add_argument("--only", nargs="*", default=[], help="module name patterns, e.g. photosort.storage")
    parser.add_argument("--report-only", action="store_true", help="merge the last run in .mutation/ again")
    parser.add_argument("--partial", action="store_true", help="merge a run that was stopped early (it fails)")
    parser.add_argument("--refresh-reasons", action="store_true", help="re-read the reasons files, run nothing")
    parser.add_argument("--render", action="store_true", help="only re-render report.md from results/")
    parser.add_argument("--write-missing", action="store_true", help="append stubs for unexplained survivors")
    args = parser.parse_args(argv)

    report = load_report()
    if args.render:
        REPORT_MD.write_text(render_markdown(report), encoding="utf-8")
        return 0
    if args.refresh_reasons:
        modules = sorted(report["modules"])
    else:
        if args.report_only:
            run = json.loads(LAST_RUN.read_text(encoding="utf-8"))
            modules = run["modules"]
        else:
            modules = select(args.only)
            tests = tests_for(modules)
            started = time.monotonic()
            prepare_workspace(modules, tests)
            run_mutmut(args.max_children)
            run = {
                "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "duration_seconds": round(time.monotonic() - started),
                "modules": modules,
                "tests": tests,
                "max_children": args.max_children,
                "cpus": os.cpu_count(),
            }
            LAST_RUN.write_text(json.dumps(run), encoding="utf-8")
        mutants = collect_mutants(modules)
        if not mutants:
            raise SystemExit("mutmut produced no results: see the output above")
        unknown = Counter(m.status for m in mutants if m.status not in KILLED | SURVIVED)
        if unknown and not args.partial:
            raise SystemExit(f"mutants left unchecked or skipped: {dict(unknown)}; the run is incomplete")
        reasons = {module: load_reasons(module) for module in modules}
        survivors = [survivor_entry(m, reasons[m.module]) for m in mutants if m.status in SURVIVED]
        report = merge(report, module_entries(mutants, modules, run), survivors)
    report = refresh_reasons(report)
    if args.write_missing:
        write_missing(report)
        report = refresh_reasons(report)
    write_report(report)

    print(f"\n{'module':36} {'mutants':>8} {'killed':>7} {'score':>7}  run")
    for module, s in report["modules"].items():
        mark = "  <- this run" if module in modules and not args.refresh_reasons else ""
        print(f"{module:36} {s['mutants']:8} {s['killed']:7} {s['score']:7.1%}  {s['run']['generated']}{mark}")
    d = report["domain"]
    print(f"{'all of the above':36} {d['mutants']:8} {d['killed']:7} {d['score']:7.1%}")
    print(f"report: {REPORT_MD.relative_to(REPO)}, {RESULTS.relative_to(REPO)}/")
    for s in report["survivors"]:
        if s["module"] in modules and not s["reason"]:
            print(f"  NO REASON: {s['module']} {s['function']}: {s['original']!r} -> {s['mutated']!r}")
    mine = [p for module in modules for p in module_failures(report, module)]
    others = [p for p in dict.fromkeys(failures(report) + stale(report)) if p not in mine]
    for problem in mine:
        print(f"FAIL: {problem}")
    for problem in others:
        print(f"note (not this run): {problem}")
    everything = sorted(scope_files()) == sorted(modules)
    return 1 if mine or (everything and others) else 0


if __name__ == "__main__":
    sys.exit(main())
