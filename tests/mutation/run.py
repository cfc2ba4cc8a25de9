"""Mutation testing of the domain layer (``layers/core/photosort``) with mutmut: ``make mutation``.

mutmut expects the package under ``src/`` (it names mutants by file path), while photosort maps it from
``layers/core/photosort`` with ``package-dir``. So this script lays out a workspace in ``.mutation/``: the
domain sources as ``src/photosort``, a copy of ``tests/`` and the repository files the tests read, and a
``pyproject.toml`` with the mutmut settings. mutmut then puts ``mutants/src`` first on ``sys.path``, ahead
of the editable install, so the tests import the mutated package.

After the run it writes ``tests/mutation/report.json`` and ``report.md``: the score per module, every
surviving mutant with its reason from ``survivors.toml``, and a hash of the domain sources' syntax trees,
which ``tests/mutation/test_report.py`` (in ``make test``) compares with the sources to catch a stale report.

A survivor is keyed by module, function and the text of the lines the mutation changed (never by line
number or mutant number, which shift with every edit), so reasons survive re-runs. The script fails, and
lists them, when a survivor has no reason yet; ``--write-missing`` appends stubs for them to
``survivors.toml``. It also fails when the targets are missed.
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
REPORT_JSON = HERE / "report.json"
REPORT_MD = HERE / "report.md"
REASONS = HERE / "survivors.toml"
MUTATED_COPY = WORKSPACE / "src" / "photosort"

# The fast test kinds: unit tests (moto in-process or fakes) and the local model's tests. No embedded stack.
TEST_SELECTION = ["tests/unit", "tests/model"]
# Files the selected tests read from the repository root.
ALSO_COPY = ["template.yaml", "events", "statemachine"]
# Pure declarations: no behaviour to mutate.
NOT_MUTATED = ["constants.py"]
# Targets from issue 18: per listed module, and across the whole domain layer.
MODULE_TARGETS = {"photosort.storage": 0.85, "photosort.routing": 0.85, "photosort.repository": 0.85}
DOMAIN_TARGET = 0.75

# mutmut's exit codes (mutmut.stats.status_by_exit_code). A timeout or crash is a detected mutant.
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
SURVIVED = {"survived", "no tests", "suspicious"}


def domain_files(root: Path = DOMAIN) -> list[Path]:
    """The domain sources that are mutated, relative to the package directory."""
    return sorted(
        p.relative_to(root)
        for p in root.rglob("*.py")
        if "__pycache__" not in p.parts and p.relative_to(root).as_posix() not in NOT_MUTATED
    )


def domain_hash(root: Path = DOMAIN) -> str:
    """SHA-256 over each mutated file's path and syntax tree: formatting and comments do not make it stale."""
    digest = hashlib.sha256()
    for rel in domain_files(root):
        tree = ast.parse((root / rel).read_text(encoding="utf-8"))
        digest.update(rel.as_posix().encode() + b"\0" + ast.dump(tree, annotate_fields=False).encode() + b"\0")
    return digest.hexdigest()


def module_name(rel: Path) -> str:
    parts = ["photosort", *rel.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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


def prepare_workspace() -> None:
    if WORKSPACE.exists():
        shutil.rmtree(WORKSPACE)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    shutil.copytree(DOMAIN, WORKSPACE / "src" / "photosort", ignore=ignore)
    shutil.copytree(REPO / "tests", WORKSPACE / "tests", ignore=ignore)
    with (WORKSPACE / "tests" / "conftest.py").open("a", encoding="utf-8") as conftest:
        conftest.write(SESSION_MOCK)
    for name in ALSO_COPY:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, WORKSPACE / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, WORKSPACE / name)
    mutmut = {
        "source_paths": ["src"],
        "do_not_mutate": [f"src/photosort/{name}" for name in NOT_MUTATED],
        "also_copy": ALSO_COPY,
        "pytest_add_cli_args_test_selection": TEST_SELECTION,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "no:randomly"],
        "timeout_multiplier": 3.0,
        "timeout_constant": 4.0,
    }
    lines = ["[tool.mutmut]", *(f"{k} = {_toml_value(v)}" for k, v in mutmut.items()), "", "[tool.pytest.ini_options]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in _pytest_options().items()]
    (WORKSPACE / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_mutmut(max_children: int, only: list[str]) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    command = [sys.executable, str(HERE / "mutmut_main.py"), "run", "--max-children", str(max_children), *only]
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
    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.original, self.mutated)


def _squash(lines: list[str]) -> str:
    return " / ".join(re.sub(r"\s+", " ", line).strip() for line in lines if line.strip())


def _function_of(mutant_name: str) -> str:
    mangled = mutant_name.partition("__mutmut_")[0].rpartition(".")[2]
    if mangled.startswith("x_"):
        return mangled[2:]
    return ".".join(part for part in mangled.split("ǁ")[1:] if part)


def collect_mutants() -> list[Mutant]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    mutants: list[Mutant] = []
    cwd = os.getcwd()
    os.chdir(WORKSPACE)
    try:
        for rel in domain_files():
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
                mutants.append(Mutant(name, module_name(rel), _function_of(name), status, original, mutated))
    finally:
        os.chdir(cwd)
    return mutants


def _reasons_file() -> dict[str, Any]:
    return tomllib.loads(REASONS.read_text(encoding="utf-8")) if REASONS.exists() else {}


def load_reasons() -> dict[tuple[str, str, str, str], str]:
    """``[[survivor]]`` entries: one mutant each, keyed by module, function, original and mutated text."""
    reasons = {}
    for entry in _reasons_file().get("survivor", []):
        key = (entry["module"], entry["function"], _squash([entry["original"]]), _squash([entry["mutated"]]))
        reasons[key] = entry.get("reason", "").strip()
    return reasons


@dataclass(frozen=True)
class Rule:
    """A ``[[rule]]`` entry: one reason for a class of survivors (fnmatch on module and function, regular
    expressions searched in the original and mutated text, optionally one mutmut status)."""

    reason: str
    module: str = "*"
    function: str = "*"
    original: str = ""
    mutated: str = ""
    status: str = ""

    def matches(self, m: Mutant) -> bool:
        return (
            fnmatch.fnmatchcase(m.module, self.module)
            and fnmatch.fnmatchcase(m.function, self.function)
            and re.search(self.original, m.original) is not None
            and re.search(self.mutated, m.mutated) is not None
            and (not self.status or self.status == m.status)
        )


def load_rules() -> list[Rule]:
    return [Rule(**entry) for entry in _reasons_file().get("rule", [])]


def reason_for(m: Mutant, reasons: dict[tuple[str, str, str, str], str], rules: list[Rule]) -> str:
    """The mutant's own reason, else the first rule that matches it, else ''."""
    if reasons.get(m.key):
        return reasons[m.key]
    return next((r.reason.strip() for r in rules if r.matches(m)), "")


def _toml_string(text: str) -> str:
    return "'''" + text + "'''" if "'''" not in text else json.dumps(text)


def write_missing(missing: list[Mutant]) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    blocks = []
    for m in missing:
        if m.key in seen:
            continue
        seen.add(m.key)
        blocks.append(
            "\n[[survivor]]\n"
            f"module = {_toml_string(m.module)}\n"
            f"function = {_toml_string(m.function)}\n"
            f"original = {_toml_string(m.original)}\n"
            f"mutated = {_toml_string(m.mutated)}\n"
            'reason = ""\n'
        )
    with REASONS.open("a", encoding="utf-8") as out:
        out.write("".join(blocks))
    print(f"appended {len(blocks)} stub(s) to {REASONS.relative_to(REPO)}: fill in each reason")


def score(mutants: list[Mutant]) -> dict[str, Any]:
    killed = sum(m.status in KILLED for m in mutants)
    survived = sum(m.status in SURVIVED for m in mutants)
    total = killed + survived
    return {
        "mutants": total,
        "killed": killed,
        "survived": survived,
        "score": round(killed / total, 4) if total else 1.0,
    }


def build_report(
    mutants: list[Mutant],
    reasons: dict[tuple[str, str, str, str], str],
    rules: list[Rule],
    seconds: float,
    partial: bool = False,
) -> dict[str, Any]:
    from importlib.metadata import version

    unknown = Counter(m.status for m in mutants if m.status not in KILLED | SURVIVED)
    if unknown and not partial:
        raise SystemExit(f"mutants left unchecked or skipped: {dict(unknown)}; the run is incomplete")
    modules = sorted({m.module for m in mutants})
    per_module = {mod: score([m for m in mutants if m.module == mod]) for mod in modules}
    overall = score(mutants)
    survivors = [
        {
            "module": m.module,
            "function": m.function,
            "status": m.status,
            "original": m.original,
            "mutated": m.mutated,
            "reason": reason_for(m, reasons, rules),
            "mutant": m.name,
        }
        for m in mutants
        if m.status in SURVIVED
    ]
    return {
        "tool": f"mutmut {version('mutmut')}",
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "make mutation",
        "duration_seconds": round(seconds),
        "cpus": os.cpu_count(),
        "tests": TEST_SELECTION,
        # of the copy that was mutated, so a source edited during the run cannot make the report look current
        "domain_sha256": domain_hash(MUTATED_COPY),
        "files": [f"layers/core/photosort/{rel.as_posix()}" for rel in domain_files(MUTATED_COPY)],
        "targets": {"modules": MODULE_TARGETS, "domain": DOMAIN_TARGET},
        # mutants the run did not get to (a run stopped early with --partial); a complete report has none
        "unchecked": dict(Counter(m.module for m in mutants if m.status not in KILLED | SURVIVED)),
        "modules": per_module,
        "domain": overall,
        "survivors": survivors,
    }


def failures(report: dict[str, Any]) -> list[str]:
    """Why a report does not meet issue 18's bar (empty when it does)."""
    problems = []
    if report.get("unchecked"):
        problems.append(f"the run was stopped early: {sum(report['unchecked'].values())} mutants not checked")
    for module, target in report["targets"]["modules"].items():
        got = report["modules"].get(module)
        if got is None:
            problems.append(f"{module}: no mutants (module missing?)")
        elif got["score"] < target:
            problems.append(f"{module}: {got['score']:.1%} killed, target {target:.0%}")
    if report["domain"]["score"] < report["targets"]["domain"]:
        problems.append(f"domain: {report['domain']['score']:.1%} killed, target {report['targets']['domain']:.0%}")
    unexplained = [s for s in report["survivors"] if not s["reason"]]
    if unexplained:
        problems.append(f"{len(unexplained)} survivor(s) without a reason in {REASONS.relative_to(REPO)}")
    return problems


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Mutation testing report (domain layer)",
        "",
        (
            f"Generated by `{report['command']}` with {report['tool']} on {report['generated']} "
            f"({report['duration_seconds']} s on {report['cpus']} CPUs). Tests: {', '.join(report['tests'])}. "
            f"Domain sources hash: `{report['domain_sha256'][:16]}…`. Do not edit: regenerate with "
            "`make mutation`; reasons for survivors live in `tests/mutation/survivors.toml`."
        ),
        "",
        "| module | mutants | killed | survived | score | target |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for module, s in report["modules"].items():
        target = report["targets"]["modules"].get(module)
        lines.append(
            f"| `{module}` | {s['mutants']} | {s['killed']} | {s['survived']} | {s['score']:.1%} | "
            f"{f'{target:.0%}' if target else ''} |"
        )
    d = report["domain"]
    lines.append(
        f"| **domain** | {d['mutants']} | {d['killed']} | {d['survived']} | **{d['score']:.1%}** | "
        f"{report['targets']['domain']:.0%} |"
    )
    if report.get("unchecked"):
        lines += ["", f"**Incomplete run:** mutants not checked: {report['unchecked']}."]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--only", nargs="*", default=[], help="mutant name patterns (development runs)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from the last run")
    parser.add_argument("--partial", action="store_true", help="report a run that was stopped early (fails)")
    parser.add_argument("--write-missing", action="store_true", help="append stubs for unexplained survivors")
    args = parser.parse_args(argv)

    started = time.monotonic()
    if not args.report_only:
        prepare_workspace()
        run_mutmut(args.max_children, args.only)
        (WORKSPACE / "duration").write_text(str(time.monotonic() - started))
    seconds = float((WORKSPACE / "duration").read_text()) if (WORKSPACE / "duration").exists() else 0.0
    mutants = collect_mutants()
    if not mutants:
        raise SystemExit("mutmut produced no results: see the output above")
    reasons = load_reasons()
    rules = load_rules()
    report = build_report(mutants, reasons, rules, seconds, partial=args.partial)
    if args.write_missing:
        write_missing([m for m in mutants if m.status in SURVIVED and not reason_for(m, reasons, rules)])
    used = {m.key for m in mutants}
    stale = [k for k in reasons if k not in used]
    REPORT_JSON.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    REPORT_MD.write_text(render_markdown(report), encoding="utf-8")

    print(f"\n{'module':40} {'mutants':>8} {'killed':>7} {'score':>7}")
    for module, s in report["modules"].items():
        print(f"{module:40} {s['mutants']:8} {s['killed']:7} {s['score']:7.1%}")
    d = report["domain"]
    print(f"{'domain':40} {d['mutants']:8} {d['killed']:7} {d['score']:7.1%}   ({seconds:.0f} s)")
    print(f"report: {REPORT_MD.relative_to(REPO)}, {REPORT_JSON.relative_to(REPO)}")
    if stale:
        print(f"note: {len(stale)} reason(s) in {REASONS.name} match no survivor any more (killed or code changed)")
    unexplained = [s for s in report["survivors"] if not s["reason"]]
    for s in unexplained:
        print(f"  NO REASON: {s['module']} {s['function']}: {s['original']!r} -> {s['mutated']!r}")
    problems = failures(report)
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
