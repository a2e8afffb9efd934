"""The README and docs/ name only what exists: every link's file and anchor, every path and playbook written in
backticks, every variable of the project's roles and inventories; and the README stays one screen or two."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# where the names a doc may use are defined or read
CODE = [
    "roles", "playbooks", "inventories", "library", "action_plugins", "module_utils", "filter_plugins",
    "callback_plugins", "inventory_plugins", "molecule", "tests", "scripts", "lab", "service", "bench", "ee", "awx",
    "monitoring", "collections", "ansible.cfg", "Makefile", "requirements.yml", "ansible-navigator.yml",
    "execution-environment.yml",
]  # fmt: skip
VARIABLE = re.compile(
    r"^(ai_cs|pipeline|release|monitoring|registry|diagnose|backup|migrate|preflight|verify|loadbalancer|postgresql"
    r"|exporters|self_heal|deploy_lock|artifact_server|lab|k8s|canary|vault)_[a-z0-9_]+$"
)
PATH = re.compile(r"^[\w.-]+(/[\w.-]+)*\.(yml|yaml|py|sh|md|j2|json|cfg|txt|sql|toml)$")
# written by the project at run time, or a role's own layout (`tasks/main.yml` of any role)
GENERATED = ("build/", ".venv/", "inventories/lab/.secrets/", ".ansible/")


def _code_words() -> set[str]:
    words: set[str] = set()
    for name in CODE:
        top = ROOT / name
        files = [top] if top.is_file() else [f for f in top.rglob("*") if f.is_file() and ".cache" not in f.parts]
        for path in files:
            if path.suffix in {".png", ".gz", ".pyc"} or path == Path(__file__).resolve():
                continue
            words |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path.read_text(errors="ignore")))
    return words


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", path.read_text())
    return {_slug(h) for h in re.findall(r"(?m)^#+ (.+)$", text)} | set(re.findall(r'<a (?:id|name)="([^"]+)"', text))


def _backticked(text: str) -> list[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", text)
    return [part.strip("()[]:;,.'\"") for tok in re.findall(r"`([^`\n]+)`", text) for part in tok.split()]


def _exists(doc: Path, path: str) -> bool:
    return (
        path.startswith(GENERATED)
        or (ROOT / path).exists()
        or (doc.parent / path).exists()
        or any((ROOT / "roles").glob(f"*/{path}"))
    )


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_link_names_a_file_and_heading_that_exist(doc: Path):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(f"{target}: no file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.name}")
    assert broken == [], f"{doc.name}: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_path_and_playbook_named_exists(doc: Path):
    missing = [p for p in _backticked(doc.read_text()) if PATH.match(p) and "/" in p and not _exists(doc, p)]
    assert missing == [], f"{doc.name} names files that do not exist: {missing}"


@pytest.fixture(scope="module")
def words() -> set[str]:
    return _code_words()


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_variable_named_exists(doc: Path, words: set[str]):
    names = {p.split("=", 1)[0] for p in _backticked(doc.read_text())}
    missing = sorted(n for n in names if VARIABLE.match(n) and n not in words)
    assert missing == [], f"{doc.name} names variables no role, playbook or inventory has: {missing}"


def test_the_readme_is_one_screen_or_two():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_the_check_finds_what_does_not_exist(tmp_path: Path, words: set[str]):
    """The three checks above can fail: a doc naming a missing playbook, variable and heading."""
    doc = tmp_path / "bad.md"
    doc.write_text("# Title\n\nRun `playbooks/nil.yml` with `ai_cs_no_such_option=1`; see [x](#no-such-heading).\n")
    assert [p for p in _backticked(doc.read_text()) if PATH.match(p) and not _exists(doc, p)] == ["playbooks/nil.yml"]
    assert [n for n in (p.split("=", 1)[0] for p in _backticked(doc.read_text())) if VARIABLE.match(n)] == [
        "ai_cs_no_such_option"
    ]
    assert "ai_cs_no_such_option" not in words
    assert "no-such-heading" not in _anchors(doc) and "title" in _anchors(doc)


SAMPLES = sorted((ROOT / "docs" / "samples").glob("*.txt"))


def test_there_are_samples_of_deploy_rollback_and_diagnose():
    assert {s.stem for s in SAMPLES} >= {"deploy", "rollback", "diagnose"}


def _task_patterns() -> list[re.Pattern]:
    """Every task and play name of the roles and playbooks, as a pattern: a Jinja expression in it matches anything,
    and ansible may add " - <item>" (a looped include) after it."""
    names = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("name"), str):
                names.add(" ".join(node["name"].split()))  # a folded name (>-) as ansible shows it, on one line
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for top in ("roles", "playbooks"):
        for path in (ROOT / top).rglob("*.yml"):
            walk(yaml.safe_load(path.read_text()))
    patterns = []
    for name in names:
        body = re.sub(r"\\\{\\\{.*?\\\}\\\}", ".+", re.escape(name))
        if len(re.sub(r"\{\{.*?\}\}", "", name).strip()) < 5:  # a name all Jinja would match any task
            continue
        patterns.append(re.compile(f"{body}( - .+)?"))
    return patterns


def _stale(names: set[str], specs: str, patterns: list[re.Pattern]) -> list[str]:
    stale = []
    for name in names:
        spec = re.fullmatch(r"Validating arguments against arg spec '[\w]+' - (.+)", name)
        if spec:
            if spec.group(1) not in specs:
                stale.append(name)
        elif not any(p.fullmatch(name) for p in patterns):
            stale.append(name)
    return sorted(stale)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_every_task_a_sample_shows_still_exists(sample: Path):
    """scripts/capture_samples.py captured it from the lab; a task renamed or removed since makes it stale."""
    names = set(re.findall(r"^(?:TASK|RUNNING HANDLER) \[(?:[\w.]+ : )?(.+?)\] \*+$", sample.read_text(), re.M))
    assert names, f"{sample.name} shows no task"
    specs = "\n".join(p.read_text() for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
    stale = _stale(names, specs, _task_patterns())
    assert stale == [], f"{sample.name} is stale (run scripts/capture_samples.py on the lab): {stale}"


def test_a_renamed_task_makes_a_sample_stale():
    patterns = _task_patterns()
    finished = "member_drain | Wait until its requests in flight have finished - ai-cs-app1, at most 30 s"
    assert _stale({finished}, "", patterns) == []
    assert _stale({"member_drain | Wait until its requests are finished"}, "", patterns) != []
