"""Everything a run report shows, gathered from the run log, the workflow file and the run's branch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError, OrchestratorError, did_you_mean
from orchestrator.report.graph import STOP, WorkflowGraph, workflow_graph
from orchestrator.report.path import Visit, path_visits, run_path
from orchestrator.run.price import RoutingPrice, routing_price
from orchestrator.run.workspace import BUILD_OUTPUT, TEXT_DIFF, git
from orchestrator.store.location import state_dir
from orchestrator.store.log import RunLog, checkpoints_connection

MAX_DIFF_CHARS = 200_000
NOTE_KINDS = ("verdict_invalid", "moderator_fallback", "moderator_overruled", "flag", "cascade_escalation",
              "monitor_halt", "acceptance", "ensemble")
"""Events shown beside the verdict of the step they happened in: why a verdict was invalid, a flag, ..."""


@dataclass
class ReportData:
    """One run, ready to render."""

    run: dict[str, Any]
    visits: list[Visit]
    path: list[str]
    usage: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    price: RoutingPrice
    diff: str
    commits: list[str]
    graph: WorkflowGraph | None = None
    notes: list[str] = field(default_factory=list)
    """What the report could not show, and why (e.g. the workflow file is gone)."""

    @property
    def gate_visits(self) -> list[tuple[Visit, dict[str, Any]]]:
        """The visits that ended in a gate verdict, each with its verdict event, in order."""
        return [(v, gate) for v in self.visits if (gate := v.gate) is not None]


def collect_report(repo: Path, run_id: str) -> ReportData:
    """Read one run's records; an unknown run id is a ConfigError with a "did you mean"."""
    log = RunLog(state_dir(repo) / "runs.sqlite")
    try:
        run = log.run(run_id)
        if run is None:
            raise ConfigError(f"unknown run {run_id!r}.{did_you_mean(run_id, [r['id'] for r in log.runs()])}")
        events, calls, decisions = log.events(run_id), log.calls(run_id), log.decisions(run_id)
    finally:
        log.close()
    notes: list[str] = []
    graph = _graph(repo, run, notes)
    nodes = graph.node_ids() if graph else {e["step"].split(".", 1)[0] for e in events if e["step"]}
    visits = path_visits(events, calls, nodes, run["started"])
    diff, commits = _branch_work(repo, run, notes)
    path = run_path(visits, run["status"], run["status"] != "done" and _reached_stop_node(repo, run_id))
    return ReportData(run=run, visits=visits, path=path, usage=usage_rows(calls),
                      decisions=decisions, price=routing_price(calls, _registry(repo, notes)), diff=diff,
                      commits=commits, graph=graph, notes=notes)


def usage_rows(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Calls, tokens and dollars per (persona, model), most tokens first."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for call in calls:
        row = rows.setdefault((call["persona"] or "-", call["model"]), {
            "persona": call["persona"] or "-", "model": call["model"], "calls": 0, "prompt_tokens": 0,
            "completion_tokens": 0, "tokens": 0, "cost_usd": 0.0})
        prompt, completion = int(call["prompt_tokens"] or 0), int(call["completion_tokens"] or 0)
        row["calls"] += 1
        row["prompt_tokens"] += prompt
        row["completion_tokens"] += completion
        row["tokens"] += prompt + completion
        row["cost_usd"] += float(call["cost_usd"] or 0.0)
    return sorted(rows.values(), key=lambda r: (-r["tokens"], r["persona"], r["model"]))


def visit_notes(visit: Visit) -> list[str]:
    """The visit's side events in words: `verdict_invalid: the verdict names no scenario`, ..."""
    out = []
    for event in visit.events:
        if event["kind"] in NOTE_KINDS:
            data = {k: v for k, v in event["data"].items() if v not in (None, "", [], {})}
            text = data.pop("reason", None) or data.pop("flag", None) or ", ".join(f"{k}={v}" for k, v in data.items())
            who = f" ({event['persona']})" if event["persona"] not in ("", "-") else ""
            out.append(f"{event['kind']}{who}: {text}")
    return out


def _graph(repo: Path, run: dict[str, Any], notes: list[str]) -> WorkflowGraph | None:
    """The compiled graph of the run's workflow file, at the autonomy level the run used."""
    import json

    from orchestrator.workflow.validate import load_workflow

    try:
        spec = load_workflow(Path(run["workflow_path"]), repo)
    except OrchestratorError as exc:
        notes.append(f"no graph: the workflow file {run['workflow_path']} does not load now ({exc})")
        return None
    autonomy = json.loads(run["options"] or "{}").get("autonomy")
    if autonomy:
        spec.settings.autonomy = autonomy
    return workflow_graph(spec)


def _reached_stop_node(repo: Path, run_id: str) -> bool:
    """Whether the run's graph ran its stop node, by the run's last LangGraph checkpoint."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = state_dir(repo) / "checkpoints.sqlite"
    if not path.is_file():
        return False
    conn = checkpoints_connection(path)
    try:
        saved = SqliteSaver(conn).get_tuple({"configurable": {"thread_id": run_id}})
    finally:
        conn.close()
    return saved is not None and STOP in saved.checkpoint.get("versions_seen", {})


def _registry(repo: Path, notes: list[str]) -> Any:
    """The repo's model registry as it is now (models.yaml layers), for prices and parameter counts."""
    from orchestrator.models.registry import load_registry

    try:
        return load_registry(repo)
    except OrchestratorError as exc:
        notes.append(f"the repo's models.yaml does not load ({exc}); prices come from the shipped registry")
        return load_registry(None)


def _branch_work(repo: Path, run: dict[str, Any], notes: list[str]) -> tuple[str, list[str]]:
    """The final diff of the run's branch against its base commit, and its commits, oldest first."""
    base, branch = run["base_commit"], run["branch"]
    if not git(repo, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}", check=False).strip():
        notes.append(f"no diff: the run's branch {branch} no longer exists")
        return "", []
    diff = git(repo, "diff", *TEXT_DIFF, base, branch, "--", ".", *BUILD_OUTPUT)
    if len(diff) > MAX_DIFF_CHARS:
        diff = diff[:MAX_DIFF_CHARS] + f"\n[... diff cut at {MAX_DIFF_CHARS} characters]"
    commits = git(repo, "log", "--reverse", "--format=%h %s", f"{base}..{branch}").splitlines()
    return diff, commits
