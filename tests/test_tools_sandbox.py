"""Sandbox: path confinement and shell-free, env-scrubbed, time- and size-bounded commands."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from hostile import gone

from orchestrator.agents.sandbox import command_name, resolve_inside, run_command, scrubbed_env, truncate_middle
from orchestrator.errors import SandboxViolation, ToolError

PY = sys.executable
ALLOW = {"python", "git"}


def run(argv: list[str], cwd: Path, timeout_s: float = 30, max_output_chars: int = 8000):
    """run_command with the test allowlist."""
    return run_command(argv, cwd, allowlist=ALLOW, timeout_s=timeout_s, max_output_chars=max_output_chars)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A worktree-like folder with a file, a .git folder and a secret file next to it."""
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "app.py").write_text("x = 1\n")
    (work / ".git").mkdir()
    (work / ".git" / "config").write_text("[core]\n")
    (tmp_path / "secret.txt").write_text("s3cret\n")
    return work


class TestResolveInside:
    def test_plain_relative_path_resolves_inside(self, root: Path):
        assert resolve_inside(root, "src/app.py") == (root / "src" / "app.py").resolve()
        assert resolve_inside(root, "new/dir/file.txt").parent == (root / "new" / "dir").resolve()
        assert resolve_inside(root, ".") == root.resolve()

    @pytest.mark.parametrize("path", ["../secret.txt", "src/../../secret.txt", "src/.."])
    def test_dotdot_refused(self, root: Path, path: str):
        with pytest.raises(SandboxViolation, match=r"contains '\.\.'"):
            resolve_inside(root, path)

    @pytest.mark.parametrize("path", ["/etc/passwd", "//etc/passwd", "C:/Windows"])
    def test_absolute_refused(self, root: Path, path: str):
        with pytest.raises(SandboxViolation, match="absolute"):
            resolve_inside(root, path)

    def test_symlinked_parent_folder_refused(self, root: Path, tmp_path: Path):
        (root / "escape").symlink_to(tmp_path)
        with pytest.raises(SandboxViolation, match="outside the repository") as info:
            resolve_inside(root, "escape/secret.txt")
        assert "escape/secret.txt" in str(info.value)

    def test_symlink_to_etc_refused(self, root: Path):
        (root / "etc_link").symlink_to("/etc")
        (root / "passwd_link").symlink_to("/etc/passwd")
        for path in ("etc_link/passwd", "passwd_link", "etc_link"):
            with pytest.raises(SandboxViolation, match="outside"):
                resolve_inside(root, path)

    def test_symlink_inside_root_allowed(self, root: Path):
        (root / "alias.py").symlink_to(root / "src" / "app.py")
        assert resolve_inside(root, "alias.py") == (root / "src" / "app.py").resolve()

    @pytest.mark.parametrize("path", [".git/config", ".git", "sub/.git/hooks/pre-commit"])
    def test_git_dir_refused(self, root: Path, path: str):
        with pytest.raises(SandboxViolation, match=r"\.git"):
            resolve_inside(root, path)

    def test_symlink_into_git_dir_refused(self, root: Path):
        (root / "hooks").symlink_to(root / ".git")
        with pytest.raises(SandboxViolation, match=r"\.git"):
            resolve_inside(root, "hooks/config")

    def test_nul_byte_refused(self, root: Path):
        with pytest.raises(SandboxViolation):
            resolve_inside(root, "src/app.py\x00.txt")


class TestRunCommand:
    def test_shell_metacharacters_stay_literal(self, tmp_path: Path):
        args = ["a;touch pwned", "$(touch pwned2)", "`touch pwned3`", "| rm -rf .", "&& echo hi"]
        result = run([PY, "-c", "import sys; print(sys.argv[1:])", *args], tmp_path)
        assert result.exit_code == 0
        assert result.output.strip() == repr(args)
        assert sorted(p.name for p in tmp_path.iterdir()) == []

    def test_program_outside_allowlist_refused(self, tmp_path: Path):
        for argv in (["sh", "-c", "touch pwned"], ["bash"], ["/bin/rm", "-rf", "x"], ["./python-evil"]):
            with pytest.raises(SandboxViolation, match="not allowed"):
                run(argv, tmp_path)
        assert not (tmp_path / "pwned").exists()

    def test_allowlist_matches_basename_without_version(self):
        assert command_name("/usr/bin/python3.11") == "python"
        assert command_name(".venv/bin/pytest") == "pytest"
        assert command_name("ruff.exe") == "ruff"
        assert run_command([PY, "-c", "pass"], Path("."), allowlist={Path(PY).name}, timeout_s=9, max_output_chars=9).ok

    def test_bad_argv_refused(self, tmp_path: Path):
        with pytest.raises(ToolError, match="non-empty list"):
            run([], tmp_path)
        with pytest.raises(ToolError, match="non-empty list"):
            run([PY, 3], tmp_path)  # type: ignore[list-item]

    def test_missing_program_is_a_tool_error(self, tmp_path: Path):
        with pytest.raises(ToolError, match="not found"):
            run_command(
                ["pytest-does-not-exist"],
                tmp_path,
                allowlist={"pytest-does-not-exist"},
                timeout_s=5,
                max_output_chars=100,
            )

    def test_secrets_are_scrubbed_from_the_child_env(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        canaries = {
            "OPENAI_API_KEY": "sk-canary",
            "GITHUB_TOKEN": "ghp-canary",
            "AWS_REGION": "x",
            "PYTHON_SECRET": "canary",
            "MY_DB_PASSWORD": "canary",
            "RANDOM_THING": "canary",
        }
        for name, value in canaries.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LC_ALL", "C.UTF-8")
        result = run([PY, "-c", "import os, json; print(json.dumps(dict(os.environ)))"], tmp_path)
        assert "canary" not in result.output
        child = json.loads(result.output)
        assert not set(canaries) & set(child)
        assert child["LC_ALL"] == "C.UTF-8" and "PATH" in child

    def test_path_through_dotdot_and_a_linked_venv_under_a_hidden_root(self, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
        # Where people clone (home, /tmp) is an empty tmpfs inside: `<clone>/examples/../.venv/bin`, or a
        # venv that is a symlink living there, can't be walked in the sandbox unless PATH is normalised.
        clone = tmp_path / "my clone"
        (clone / "examples").mkdir(parents=True)
        (clone / ".venv").symlink_to(Path(sys.prefix))
        monkeypatch.setenv("PATH", os.pathsep.join([f"{clone}/examples/../.venv/bin", "relative/bin", os.defpath]))
        work = tmp_path / "work"
        work.mkdir()
        result = run(["python", "-c", "import sys, os; print(sys.prefix); print(os.environ['PATH'])"], work)
        assert result.ok, result.output
        prefix, path = result.output.split()[:2]
        assert Path(prefix) == Path(sys.prefix).resolve()
        entries = path.split(os.pathsep)
        assert entries[0] == str(Path(sys.prefix).resolve() / "bin") and "relative/bin" not in entries

    def test_scrubbed_env_keeps_only_safe_names(self):
        env = scrubbed_env(
            {
                "PATH": "/bin",
                "HF_TOKEN": "x",
                "ANTHROPIC_BASE_URL": "x",
                "PYTHONPATH": "p",
                "GEMINI_X": "x",
                "AZURE_OPENAI_ENDPOINT": "x",
                "SSH_AUTH_SOCK": "x",
            }
        )
        assert env == {"PATH": "/bin", "PYTHONPATH": "p"}

    def test_timeout_kills_the_whole_process_group(self, tmp_path: Path):
        marker = f"sleeper-{os.getpid()}-timeout"
        script = (
            "import subprocess, sys, time\n"
            f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])\n"
            "print('started', flush=True)\n"
            "time.sleep(60)\n"
        )
        start = time.monotonic()
        result = run([PY, "-c", script], tmp_path, timeout_s=1.5)
        assert time.monotonic() - start < 10
        assert result.timed_out and not result.ok
        assert "started" in result.output and "timed out after 1.5s" in result.output
        assert gone(marker)

    @pytest.mark.parametrize("detach", ["", "start_new_session=True"])
    def test_background_children_do_not_outlive_a_finished_command(self, tmp_path: Path, detach: str):
        marker = f"sleeper-{os.getpid()}-{bool(detach)}"
        script = (
            "import subprocess, sys, time\n"
            f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}], {detach})\n"
            "time.sleep(0.3)\n"
        )
        result = run([PY, "-c", script], tmp_path, timeout_s=20)
        assert result.ok and not result.timed_out
        assert gone(marker)  # a setsid() daemon too: the PID namespace dies with the command

    def test_output_truncated_keeping_head_and_tail(self, tmp_path: Path):
        script = "print('HEAD'); print('x' * 50000); print('TAIL', flush=True); import sys; sys.exit(3)"
        result = run([PY, "-c", script], tmp_path, max_output_chars=1000)
        assert result.truncated and result.exit_code == 3
        assert result.output.startswith("HEAD") and result.output.rstrip().endswith("TAIL")
        assert "characters of output cut" in result.output
        assert len(result.output) < 1100

    def test_huge_output_is_read_in_bounded_windows(self, tmp_path: Path):
        script = "import sys; sys.stdout.write('A' * 3_000_000 + 'END')"
        result = run([PY, "-c", script], tmp_path, max_output_chars=500)
        assert result.truncated and result.output.endswith("END")
        assert "bytes of output cut" in result.output and len(result.output) < 600

    def test_stderr_is_merged(self, tmp_path: Path):
        result = run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"], tmp_path)
        assert "out" in result.output and "err" in result.output
        assert result.duration_s >= 0 and result.argv[0] == PY

    def test_truncate_middle_short_text_untouched(self):
        assert truncate_middle("abc", 10) == ("abc", False)
        text, cut = truncate_middle("a" * 100 + "b" * 100, 50)
        assert cut and text.startswith("a" * 20) and text.endswith("b" * 30) and "150 characters" in text
