"""The rule code's revision: which files it covers, that it changes exactly when their
bytes (or names) change, and that it is the same in every process."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import __version__
from gateway.services.revision import RULES_REVISION, rules_files, rules_revision

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The rule code's files (and nothing else of the package) in a fresh `gateway/`."""
    root = tmp_path / "gateway"
    for name, path in rules_files(GATEWAY):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return root


def test_the_revision_is_the_package_version_and_a_hash_of_the_rule_code() -> None:
    assert re.fullmatch(r"0\.1\.0\+[0-9a-f]{12}", RULES_REVISION)
    assert RULES_REVISION.startswith(__version__ + "+")
    assert RULES_REVISION == rules_revision(__version__, GATEWAY)


def test_it_covers_the_policy_package_and_the_check_script() -> None:
    names = [name for name, _ in rules_files(GATEWAY)]
    policy = GATEWAY / "policy"
    expected = [p.relative_to(GATEWAY).as_posix() for p in policy.rglob("*.py")]
    assert names == sorted([*expected, "store/lua/precheck.lua"])
    assert {"policy/engine.py", "policy/rules/dnc.py", "policy/facts.py"} <= set(names)


def test_it_is_the_same_in_every_process() -> None:
    for seed in ("0", "1"):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "from gateway.services.revision import RULES_REVISION as r; print(r)",
            ],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            cwd=GATEWAY.parent,
        )
        assert out.stdout.strip() == RULES_REVISION


def test_it_changes_when_a_rule_files_bytes_change_and_only_then(copy: Path) -> None:
    assert rules_revision(__version__, copy) == RULES_REVISION
    # What is not rule source leaves it as it is.
    (copy / "policy" / "__pycache__").mkdir()
    (copy / "policy" / "__pycache__" / "engine.cpython-311.pyc").write_bytes(b"\0compiled")
    (copy / "policy" / "notes.txt").write_text("not code")
    (copy / "store" / "lua" / "answers_restore.lua").write_text("-- another script")
    assert rules_revision(__version__, copy) == RULES_REVISION

    hours = copy / "policy" / "rules" / "hours.py"
    original = hours.read_bytes()
    hours.write_bytes(original.replace(b"\n", b"\r\n", 1))  # one byte more: a line end
    changed = rules_revision(__version__, copy)
    assert changed != RULES_REVISION
    assert changed.startswith(__version__ + "+")
    hours.write_bytes(original)
    assert rules_revision(__version__, copy) == RULES_REVISION

    script = copy / "store" / "lua" / "precheck.lua"
    lua = script.read_bytes()
    script.write_bytes(lua + b"\n")
    assert rules_revision(__version__, copy) != RULES_REVISION
    script.write_bytes(lua)

    # A new rule file, or one renamed, is other rule code.
    (copy / "policy" / "rules" / "new.py").write_text("")
    assert rules_revision(__version__, copy) != RULES_REVISION
    (copy / "policy" / "rules" / "new.py").unlink()
    hours.rename(hours.with_name("hour.py"))
    assert rules_revision(__version__, copy) != RULES_REVISION
    hours.with_name("hour.py").rename(hours)
    assert rules_revision(__version__, copy) == RULES_REVISION
    assert rules_revision("0.2.0", copy) == "0.2.0+" + RULES_REVISION.split("+")[1]
