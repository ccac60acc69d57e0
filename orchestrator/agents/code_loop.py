"""An agent step whose model answers with code blocks instead of tool calls (`edit_format: code`).

The model gets the step's packet, which shows the files it works on whole, and no tools. Each fenced block of its
reply is merged into the file it names when that is the target or an `allowed` file, else into the target, and
written through the step's toolbox, so the worktree confinement, the write policy and the checks on Python source
apply exactly as to a tool call, and the run log hears each write as a `write_file` call. A reply without a usable
block, or a write the toolbox refuses, is answered with the reason, and the model tries again, up to `max_turns`
replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from orchestrator.agents.code_blocks import Block, code_blocks, merged
from orchestrator.agents.loop import REPEAT_TEMPERATURE, AgentResult, Complete, _short
from orchestrator.agents.redact import redact
from orchestrator.agents.test_trim import trimmed_tests, without_tests
from orchestrator.agents.whole_file import check_still_parses
from orchestrator.agents.worktree_files import read_text
from orchestrator.agents.write_policy import DEFAULT_TEST_GLOBS
from orchestrator.errors import ToolError
from orchestrator.globs import glob_match
from orchestrator.models.types import ModelReply, ToolCall

FORMAT = {
    "source": ("Answer with one ```python code block holding the functions you add or change in {target}, whole, "
               "with any imports they need (code you leave out stays as it is), or the whole new file. "
               "No tool calls."),
    "tests": ("Answer with one ```python code block holding a new test file: one or two test functions, three to "
              "five asserts in all, on plain inputs whose results the task defines. Above each assert, a short "
              "comment works its expected result out from the task. Its first line names it, as a comment: "
              "`# file: {target}`. Import what you test from its module. No tool calls."),
}
UNCHANGED = "nothing would change"
MAX_TOKENS = {"tests": 400, "source": 2048}
"""A reply's cap. Measured 2026-12-07 (bench_team, clamp): the 1.5B tester wrote 106 lines of asserts, 2,000 tokens
and 385 s on a loaded machine; five asserts and an import fit in about 150 tokens, and a reply cut at the cap keeps
its whole statements (agents/test_trim.py)."""
SUBJECT = {
    "tests": ("Test {subject}, what the task adds or fixes, not the functions the code has now: call {subject} with "
              "concrete values and check the exact results the task asks for."),
    "source": "",
}
"""Measured 2026-12-07 (bench_team, tetrahedral): without it the 0.5B and the 1.5B tested the module's existing
function, which the red gate rejects, three rounds running."""
"""What the model is asked for, by deliverable; it closes the packet, where a small model reads last. The worked
result above each assert: measured 2026-12-07 (bench_team), the 1.5B tester's wrong asserts were results it stated
without working them out (`sum_digits(0) == 1`, `run_length("ab") == "ab1"`, a bug's wrong value beside the
right one)."""


@dataclass
class CodeReplyLoop:
    """Runs one persona whose replies are code: each reply's blocks become writes in the worktree."""

    complete: Complete
    model: str
    persona: str
    system_prompt: str
    toolbox: Any  # orchestrator.agents.tools.Toolbox
    deliverable_kind: str  # "source" or "tests"
    target: str  # where a block that names no file goes
    max_turns: int = 3
    deliverable: Any = None  # Callable[[], str]: "" once delivered, else what is missing
    on_reply: Any = None
    on_tool_call: Any = None
    allowed: list[str] = field(default_factory=list)  # files a block may name besides the target
    subject: str = ""  # the name the task adds or fixes (tests are asked to test it)

    def run(self, packet: str) -> AgentResult:
        """Ask, write the reply's blocks, and ask again with the reason until delivered or out of turns."""
        ask = FORMAT[self.deliverable_kind].format(target=self.target)
        if self.subject and SUBJECT[self.deliverable_kind]:
            ask = f"{SUBJECT[self.deliverable_kind].format(subject=self.subject)} {ask}"
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.system_prompt},
                                          {"role": "user", "content": f"{packet}\n\n{ask}"}]
        result = AgentResult(final=None)
        for turn in range(self.max_turns):
            # Measured 2026-12-07 (HumanEval/6, the 1.5B at 0.2): told its code didn't parse, it sent the same code
            # twice more. A turn after a refused or missing write is sampled hotter, so it can change.
            hot = {"temperature": REPEAT_TEMPERATURE} if turn else {}
            reply = self.complete(self.model, messages, tools=None, persona=self.persona,
                                  max_tokens=MAX_TOKENS[self.deliverable_kind], **hot)
            result.replies.append(reply)
            if self.on_reply:
                self.on_reply(reply)
            result.text = reply.text
            outcome = self._write_blocks(reply, result)
            missing = self._missing()
            # Twice the file as it is: the model stands by it (measured: six more turns gave the same code).
            if not missing or sum(UNCHANGED in line for line in result.trace) >= 2:
                break
            messages += [{"role": "assistant", "content": reply.text},
                         {"role": "user", "content": f"{outcome} Still missing: {missing}. {ask}"}]
        result.missing = self._missing()
        result.capped = bool(result.missing)
        return result

    def _write_blocks(self, reply: ModelReply, result: AgentResult) -> str:
        """Write every block of the reply; what happened, as the model will be told it."""
        blocks = code_blocks(reply.text)
        if not blocks:
            result.trace.append(f"reply without a code block: {_short(reply.text, 300)}")
            return "Your reply had no ```python code block, so nothing was written."
        # A builder's block for a test file (or a tester's for the code) is not this step's: leave it out rather
        # than merge it into the target.
        tests = self.deliverable_kind == "tests"
        kept = [b for b in blocks if b.path is None or b.path in self.allowed or b.path == self.target
                or glob_match(b.path, DEFAULT_TEST_GLOBS) == tests]
        # A tester's reply is its test file: the first block replaces the file an earlier round wrote, whole (merged,
        # its old test functions with other names would stay); later blocks of the same reply are merged into it.
        said = [self._write(block, result, whole=tests and i == 0) for i, block in enumerate(kept)]
        said += [f"The block for {b.path} was left out: this step writes {self.target}." for b in blocks
                 if b not in kept]
        return " ".join(said)

    def _write(self, block: Block, result: AgentResult, whole: bool = False) -> str:
        path = block.path if block.path in (self.target, *self.allowed) else self.target
        # Read like a tool reads (a symlink out of the worktree reads as nothing); the write is the toolbox's.
        old = read_text(self.toolbox.root, path) or ""
        module = PurePosixPath(path).with_suffix("").as_posix().replace("/", ".") if path.endswith(".py") else ""
        tests = self.deliverable_kind == "tests"
        code, cut = ((trimmed_tests(block.code) if tests else without_tests(block.code, old)) if path.endswith(".py")
                     else (block.code, ""))
        if cut:
            result.trace.append(f"block for {path}: {cut}")
        content = merged("" if whole else old, code, module=module)
        call = ToolCall(name="write_file", arguments={"path": path, "content": content}, id="code_block")
        try:
            if path.endswith(".py"):  # a block that doesn't parse can't be merged: say so, not "it drops add"
                check_still_parses(path, None, code, "your code block")
            if content.strip() == old.strip():  # measured: the 0.5B gave back the buggy function as it was
                raise ToolError(f"your code is what {path} has now, so {UNCHANGED}")
            output = self.toolbox.call("write_file", {"path": path, "content": content})
        except ToolError as exc:
            output = redact(f"refused: {exc}")
        result.tool_calls += 1
        if self.on_tool_call:
            self.on_tool_call(call, output)
        result.trace.append(f"code block -> {path}: {_short(output)}")
        if output.startswith("refused:"):
            return f"Your code for {path} was not written: {output[len('refused: '):]}"
        result.delivered.append(output)
        return f"{output} ({cut})." if cut else f"{output}."

    def _missing(self) -> str:
        return self.deliverable() if self.deliverable else ""

