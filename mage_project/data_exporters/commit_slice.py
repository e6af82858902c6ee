"""Export (the commit, in one place): every sink this run staged takes the new slice, only
after every exporter block staged its part — Postgres first (one transaction per month), then
each GCS dataset (server-side copies under the slice's lock). If one commit fails after another
sink took the slice, the error names which sinks hold the new slice and which the old (re-run
to converge). See mage_project/utils/commit.py."""

from mage_project.utils.commit import commit_all
from mage_project.utils.preview import handed, head_of, readable, show

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def commit_slice(*upstream, **kwargs) -> tuple:
    outputs = [o for o in upstream if isinstance(handed(o), dict) and "staged" in handed(o)]
    staged = [entry for output in outputs for entry in handed(output)["staged"]]
    results = [r.to_dict() for r in commit_all(staged)]
    for r in results:
        print(readable(f"{r['sink']}: slice {r['slice']} committed, {r['rows']:,} rows"))
    heads = [head_of(o) for o in outputs]
    head = next((h for h in heads if not h.empty), heads[0] if heads else None)
    total = max((r["rows"] for r in results), default=0)
    return {"loads": results}, show(head, total, f"committed to {len(results)} sink(s)")
