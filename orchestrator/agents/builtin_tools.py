"""The built-in agent tools (read, list, search, write, append, edit, run tests, diff): one function each.

Each takes the Toolbox first and reaches the worktree only through it: paths resolve inside the worktree,
writes pass the write policy, commands run in the sandbox. The other parameters are the tool's arguments
(orchestrator.agents.tool_registry builds their schema from the signature).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Annotated, Any

import regex
from pydantic import Field

from orchestrator.agents.sandbox import SAFE_GIT_CONFIG, format_result, relative_posix, remaining_s, truncate_middle
from orchestrator.agents.whole_file import check_appends_new_names, check_keeps_definitions, edit_missed
from orchestrator.errors import ToolError
from orchestrator.globs import glob_match

if TYPE_CHECKING:
    from orchestrator.agents.tools import Toolbox

MAX_LISTED_FILES = 400
MAX_SEARCH_HITS = 100
MAX_UNTRACKED_DIFFS = 50
SEARCH_TIMEOUT_S = 5.0

RelativePath = Annotated[str, Field(description="File path relative to the repository root.")]


def read_file(box: Toolbox, path: RelativePath,
              start_line: Annotated[int | None, Field(ge=1, description="First line to show (1-based).")] = None,
              end_line: Annotated[int | None, Field(ge=1, description="Last line to show.")] = None) -> str:
    """Read a text file of the repository, optionally a line range."""
    lines = box.read_text(box.existing_file(path), path).splitlines()
    first, last = start_line or 1, min(end_line or len(lines), len(lines))
    if not lines:
        return f"[{path} is empty]"
    if first > len(lines) or (end_line is not None and end_line < first):
        raise ToolError(f"{path} has {len(lines)} lines; asked for {first}-{end_line or 'end'}.")
    shown: list[str] = []
    budget = box.max_output_chars
    for line in lines[first - 1 : last]:
        budget -= len(line) + 1
        if budget < 0 and shown:
            break
        shown.append(line)
    text = truncate_middle("\n".join(shown), box.max_output_chars)[0]
    shown_last = first + len(shown) - 1
    if (first, shown_last) == (1, len(lines)):
        return text
    more = f"; read on with start_line={shown_last + 1}" if shown_last < last else ""
    return f"[{path}: lines {first}-{shown_last} of {len(lines)}{more}]\n{text}"


def list_files(box: Toolbox, path: Annotated[str | None, Field(
                   description="Folder relative to the repository root (default: the root).")] = None,
               pattern: Annotated[str | None, Field(description="Glob such as '*.py'.")] = None) -> str:
    """List files under a folder (default: the repository root), optionally filtered by a glob such as '*.py'."""
    path = path or "."
    base = box.resolve(path)
    if not base.is_dir():
        raise ToolError(f"{path} is not a folder; use read_file for files.")
    found = [rel for rel in box.walk(base) if not pattern or glob_match(rel, [pattern, f"**/{pattern}"])]
    if not found:
        return f"no files under {path}" + (f" matching {pattern!r}" if pattern else "")
    shown = found[:MAX_LISTED_FILES]
    extra = len(found) - len(shown)
    return "\n".join(shown) + (f"\n[... {extra} more files not shown; narrow path or pattern]" if extra else "")


def search(box: Toolbox, pattern: Annotated[str, Field(description="Regular expression (or literal text).")],
           path: Annotated[str | None, Field(
               description="Folder or file to search (default: the repository).")] = None) -> str:
    """Search text files for a regular expression (or literal text); returns path:line: text hits."""
    path = path or "."
    try:
        compiled = regex.compile(pattern)
    except (regex.error, OverflowError, RecursionError):
        compiled = regex.compile(regex.escape(pattern))
    base = box.resolve(path)
    files = [relative_posix(box.root, base)] if base.is_file() else box.walk(base)
    hits: list[str] = []
    deadline = time.monotonic() + remaining_s(SEARCH_TIMEOUT_S)
    try:
        for rel in files:
            hits.extend(box.search_file(rel, compiled, MAX_SEARCH_HITS + 1 - len(hits), deadline))
            if len(hits) > MAX_SEARCH_HITS:
                return "\n".join(hits[:MAX_SEARCH_HITS]) + (
                    f"\n[stopped at {MAX_SEARCH_HITS} hits; narrow the pattern or path]")
    except TimeoutError:
        found = "\n".join(hits[:MAX_SEARCH_HITS])
        return (found + "\n" if found else "") + (
            f"[search stopped after {SEARCH_TIMEOUT_S:g}s: the pattern {pattern!r} is too slow "
            "(nested repetition?); use a simpler pattern or literal text]")
    return "\n".join(hits) if hits else f"no matches for {pattern!r} under {path}"


def write_file(box: Toolbox, path: RelativePath,
               content: Annotated[str, Field(description="The file's full new content.")]) -> str:
    """Create or overwrite a file with the given full content."""
    target = box.resolve(path)
    if target.is_dir():
        raise ToolError(f"{path} is a folder; give a file path.")
    rel = relative_posix(box.root, target)
    old = box.read_text(target, path) if target.is_file() else None
    if old is not None:
        check_keeps_definitions(rel, old, content)
    box.write(target, content, "write_file", old)
    return f"wrote {rel} ({len(content.splitlines())} lines)"


def append_file(box: Toolbox, path: RelativePath,
                content: Annotated[str, Field(description="The code or text to add at the end of the file.")]) -> str:
    """Add content at the end of a file (a new function, class or test); the rest of the file stays as it is."""
    target = box.existing_file(path)
    text = box.read_text(target, path).rstrip("\n")
    rel = relative_posix(box.root, target)
    check_appends_new_names(rel, text, content)
    gap = "\n\n\n" if path.endswith(".py") and text else ("\n\n" if text else "")
    new = f"{text}{gap}{content.strip(chr(10))}\n"
    box.write(target, new, "append_file", text)
    return f"appended {len(content.splitlines())} lines to {rel}"


def edit(box: Toolbox, path: RelativePath,
         search: Annotated[str, Field(description="Exact text that occurs once in the file.")],
         replace: Annotated[str, Field(description="Text to put in its place.")]) -> str:
    """Replace one exact, unique occurrence of `search` in a file with `replace`."""
    target = box.existing_file(path)
    text = box.read_text(target, path)
    if not search:
        raise ToolError("edit: `search` is empty; give the exact text to replace.")
    if search == replace:
        raise ToolError("edit: `replace` is the same as `search`, so nothing would change; give the corrected text.")
    count = text.count(search)
    if count == 0:
        raise ToolError(edit_missed(path, text))
    if count > 1:
        raise ToolError(f"edit: the search text occurs {count} times in {path}; include more "
                        "surrounding lines so it matches exactly once.")
    box.write(target, text.replace(search, replace, 1), "edit", text)
    return f"edited {relative_posix(box.root, target)}"


def run_tests(box: Toolbox) -> str:
    """Run the project's configured test command and return its output."""
    if not box.test_command:
        raise ToolError("run_tests: no test command is configured for this run.")
    return format_result(box.run(box.test_command))


def git_diff(box: Toolbox) -> str:
    """Show every change in the worktree since the last commit, including new untracked files."""
    base = ["git", *SAFE_GIT_CONFIG, "-c", "core.quotepath=off", "--no-pager"]
    flags = ["--no-color", "--no-ext-diff", "--no-textconv", "--text"]
    tracked = box.git(base + ["diff", *flags, "HEAD", "--"], "diff against HEAD")
    listing = box.git(base + ["ls-files", "--others", "--exclude-standard", "-z"], "ls-files")
    untracked = [name for name in listing.split("\0") if name and os.path.lexists(box.root / name)]
    parts = [tracked] if tracked.strip() else []
    for name in untracked[:MAX_UNTRACKED_DIFFS]:
        parts.append(box.git(base + ["diff", *flags, "--no-index", "--", os.devnull, name], f"diff of {name}",
                             ok_codes=(0, 1)))
    if len(untracked) > MAX_UNTRACKED_DIFFS:
        parts.append(f"[... {len(untracked) - MAX_UNTRACKED_DIFFS} more untracked files not shown]\n")
    text = "".join(parts)
    return truncate_middle(text, box.max_output_chars)[0] if text else "no changes since HEAD"


BUILTIN_TOOLS: list[tuple[Any, dict[str, Any]]] = [
    (read_file, {}), (list_files, {}), (search, {}),
    (write_file, {"effect": "write"}), (append_file, {"effect": "write"}), (edit, {"effect": "write"}),
    (run_tests, {"effect": "run", "needs_test_command": True}), (git_diff, {}),
]
"""(function, registration options) of each built-in tool, in the order a persona's default offer lists them."""
