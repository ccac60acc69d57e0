"""Terminal output: tables and the run summary, with rich (imported on first use: `validate` needs none)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console() -> Console:
    """The shared stdout console (plain text when not a terminal)."""
    return _console(stderr=False)


@cache
def err_console() -> Console:
    """A stderr console, for what must stay off stdout (notices and prompts under `--json`)."""
    return _console(stderr=True)


def _console(stderr: bool) -> Console:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True, stderr=stderr)
    if not console.is_terminal:
        # Logs and CI capture: rich's 80-column default would wrap model ids and verdicts.
        console = Console(highlight=False, soft_wrap=True, width=160, stderr=stderr)
    return console


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """A titled table of dict rows (column order from the first row)."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    columns = list(rows[0]) if rows else ["(empty)"]
    for column in columns:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console().print(table)


def binding_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`Registry.table()` rows in a form narrow enough that full model ids fit on one line."""
    return [
        {
            "persona": row["persona"],
            "profile": row["profile"] or "-",
            "model": row["model"],
            "fallbacks": ", ".join(row["fallbacks"]) or "-",
            "source": row["source"],
            "context": row["context_window"],
            "$/M in/out": _per_million(row["input_cost_per_token"], row["output_cost_per_token"]),
            "tools": "yes" if row["supports_tools"] else "no",
            "tok/s": "-" if row["tokens_per_s"] is None else f"{row['tokens_per_s']:g}",
            "latency s": f"{row['typical_latency_s']:g}",
            "next rung": row["next_rung"] or "-",
        }
        for row in rows
    ]


def _per_million(price_in: float, price_out: float) -> str:
    """Prices per token as dollars per million tokens, e.g. `0.15/0.6` (or `0` for a free model)."""
    if not price_in and not price_out:
        return "0"
    return f"{price_in * 1e6:g}/{price_out * 1e6:g}"


def cache_note(phases: list[dict[str, Any]]) -> str:
    """`; prompt tokens from the KV cache: C of P (S%)` when a model said it served some (local models do)."""
    prompt = sum(p.get("prompt_tokens", 0) for p in phases)
    cached = sum(p.get("cached_tokens", 0) for p in phases)
    if not cached or not prompt:
        return ""
    return f"; prompt tokens from the KV cache: {cached} of {prompt} ({cached / prompt:.0%})"


def print_outcome(outcome: Any) -> None:
    """Run summary: phase table, branch, diff stat and how the run ended."""
    rows = [
        {"phase": p["step"], "persona": p["persona"], "model": p["model"], "tokens": p["tokens"],
         "cost $": f"{p['cost_usd']:.4f}", "time s": f"{p['seconds']:.1f}", "verdict": p["verdict"]}
        for p in outcome.phases
    ]
    print_table(f"Run {outcome.run_id}", rows)
    if getattr(outcome, "gates", None):
        print_table("Gates", outcome.gates)
    trimmed = [f"{p['step']} ({p['persona']}): trimmed {', '.join(p['packet_trimmed'])}"
               + (f"; dropped {', '.join(p['packet_dropped'])}" if p.get("packet_dropped") else "")
               for p in outcome.phases if p.get("packet_trimmed") or p.get("packet_dropped")]
    total_tokens = sum(p["tokens"] for p in outcome.phases)
    total_cost = sum(p["cost_usd"] for p in outcome.phases)
    out = console()
    out.print(f"Total: {total_tokens} tokens, ${total_cost:.4f}" + cache_note(outcome.phases))
    for line in outcome.price.lines() if getattr(outcome, "price", None) else []:
        out.print(line, markup=False)
    out.print(f"Branch: {outcome.branch}   worktree: {outcome.worktree}")
    out.print(outcome.diff_stat or "(no changes)")
    for warning in outcome.warnings:
        out.print(f"[yellow]Warning:[/yellow] {warning}")
    for flag in outcome.flags:
        out.print(f"[yellow]Flag:[/yellow] {flag}")
    for line in trimmed:
        out.print(f"[yellow]Packet:[/yellow] {line}")
    style = "green" if outcome.exit_code == 0 else "yellow"
    out.print(f"[{style}]Run {outcome.status}[/{style}]: {outcome.message} (exit {outcome.exit_code})")
