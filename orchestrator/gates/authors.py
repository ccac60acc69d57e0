"""Which models wrote the run's diff, per builder persona, from the commits' trailers.

The role policy (critic ≠ builder) is checked on bindings before a run; routing can still move a builder
onto the critic's model mid-run (an escalation past the fix-round caps, a cascade). The review gate
compares its critics' models with these and flags a review whose model also wrote the code.
"""

from __future__ import annotations

from collections import defaultdict

from orchestrator.workflow.lint import is_builder


def builder_models(workspace) -> dict[str, list[str]]:
    """Model id -> the builder personas whose commits on the run's branch (since its base) name that model."""
    from orchestrator.run.workspace import git

    out = git(workspace.path, "log", "--format=%(trailers:key=Persona,valueonly,separator=%x2C)%x09"
              "%(trailers:key=Model,valueonly,separator=%x2C)", f"{workspace.base_commit}..HEAD", check=False)
    found: dict[str, list[str]] = defaultdict(list)
    for line in out.splitlines():
        persona, _, model = line.partition("\t")
        persona, model = persona.strip(), model.strip()
        if model and is_builder(persona) and persona not in found[model]:
            found[model].append(persona)
    return dict(found)


def shared_model_flags(records: list[dict], authors: dict[str, list[str]]) -> list[str]:
    """One flag per review phase row whose model also wrote part of the diff as a builder."""
    return [f"{row['persona']} reviewed on {row['model']}, the model {', '.join(authors[row['model']])} wrote "
            "code of this diff with: critic ≠ builder does not hold for this review"
            for row in records if row.get("model") in authors]
