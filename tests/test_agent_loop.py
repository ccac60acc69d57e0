"""The agent loop against a small model's failure modes: no call, repeats, made-up deliverables, capped writes."""

from __future__ import annotations

from pathlib import Path

from orchestrator.agents.loop import AgentLoop
from orchestrator.agents.tools import Toolbox
from orchestrator.models.types import ModelReply, ToolCall


def _replies(*items: ModelReply | tuple[str, dict]) -> list[ModelReply]:
    return [item if isinstance(item, ModelReply) else
            ModelReply(text="", tool_calls=(ToolCall(name=item[0], arguments=item[1], id="c"),), model="m")
            for item in items]


def _loop(tmp_path: Path, replies: list[ModelReply], seen: list, **kwargs) -> AgentLoop:
    def complete(model, messages, **options):
        seen.append((list(messages), options))
        return replies.pop(0)

    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    return AgentLoop(complete=complete, model="m", persona="builder", system_prompt="s",
                     toolbox=Toolbox(tmp_path), max_tool_calls=4, **kwargs)


def test_a_reply_without_a_tool_call_gets_a_reminder_not_done(tmp_path: Path) -> None:
    seen: list = []
    replies = _replies(ModelReply(text="I will add it.", model="m"), ("finish", {"summary": "ok"}))
    result = _loop(tmp_path, replies, seen).run("go")
    assert result.final is not None and result.final.name == "finish"
    assert "no tool call" in seen[1][0][-1]["content"]


def test_a_repeated_call_is_refused_with_the_files_tools_and_what_is_missing(tmp_path: Path) -> None:
    seen: list = []
    read = ("read_file", {"path": "calc.py"})
    replies = _replies(read, read, ("finish", {"summary": "ok"}))
    result = _loop(tmp_path, replies, seen, deliverable=lambda: "a source change").run("go")
    answer = seen[2][0][-1]["content"]
    assert answer.startswith("refused: you already made this exact call")
    assert "calc.py" in answer and "write_file" in answer and "Still missing: a source change" in answer
    assert result.missing == "a source change"  # finishing without the deliverable fails the step


def test_the_cap_never_makes_up_a_missing_deliverable(tmp_path: Path) -> None:
    seen: list = []
    replies = _replies(*[("read_file", {"path": "calc.py", "start_line": n}) for n in (1, 2)] * 2)
    result = _loop(tmp_path, replies, seen, deliverable=lambda: "a source change").run("go")
    assert result.capped and result.final is None and result.missing == "a source change"
    assert len(seen) == 4  # no forced fifth turn to invent a handoff


def test_the_step_hands_off_once_its_deliverable_exists(tmp_path: Path) -> None:
    seen: list = []
    changed = []
    replies = _replies(("write_file", {"path": "calc.py", "content": "def add(a, b):\n    return b + a\n"}),
                       ("finish", {"summary": "ok"}))
    result = _loop(tmp_path, replies, seen, deliverable=lambda: "" if changed else "a source change",
                   stop_when_delivered=True)
    changed.append(True)
    out = result.run("go")
    assert out.final is not None and out.missing == "" and out.delivered
    assert [t.name for t in seen[1][1]["tools"]] == ["finish"] and seen[1][1]["require_tool"]


def test_a_write_cut_at_its_length_limit_is_refused_and_points_at_edit(tmp_path: Path) -> None:
    seen: list = []
    capped = ModelReply(text="", tool_calls=(ToolCall(name="write_file", arguments={
        "path": "calc.py", "content": "def add(a, b):\n    ret"}, id="c"),), model="m",
        sampling={"capped_arguments": ["content"]})
    replies = [capped, *_replies(("finish", {"summary": "ok"}))]
    _loop(tmp_path, replies, seen).run("go")
    assert "Use edit" in seen[1][0][-1]["content"]
    assert (tmp_path / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_after_a_caught_repeat_the_next_call_samples_hotter(tmp_path: Path) -> None:
    seen: list = []
    read = ("read_file", {"path": "calc.py"})
    _loop(tmp_path, _replies(read, read, ("finish", {"summary": "ok"})), seen).run("go")
    assert "temperature" not in seen[1][1] and seen[2][1]["temperature"] > 0.5


def test_the_opening_turn_offers_only_the_opening_tools_and_requires_a_call(tmp_path: Path) -> None:
    seen: list = []
    write = ("write_file", {"path": "tests/test_sub.py", "content": "def test_sub():\n    assert 0\n"})
    _loop(tmp_path, _replies(write, ("finish", {"summary": "ok"})), seen, opening_tools=("write_file",)).run("go")
    first, second = seen[0][1], seen[1][1]
    assert [t.name for t in first["tools"]] == ["write_file"] and first["require_tool"]
    assert "read_file" in [t.name for t in second["tools"]] and not second["require_tool"]


def test_writing_the_same_content_again_is_a_repeat_even_after_a_write(tmp_path: Path) -> None:
    seen: list = []
    write = ("write_file", {"path": "calc.py", "content": "x = 1\n"})
    _loop(tmp_path, _replies(write, write, ("finish", {"summary": "ok"})), seen).run("go")
    assert seen[2][0][-1]["content"].startswith("refused: you already made this exact call")
