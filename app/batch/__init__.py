"""Batch pipelines on Dask: ``surgitwin batch SPEC.yaml`` runs load -> segment -> mesh -> export (-> simulate) per item.

* :mod:`.spec` -- the YAML spec and its validation;
* :mod:`.pipeline` -- one item in a worker, published atomically with a manifest (the done-marker);
* :mod:`.runner` -- skipping finished items, Dask submission, progress and the summary table.
"""

from .pipeline import content_hash, input_hash, run_item
from .runner import BatchError, BatchReport, ItemOutcome, format_summary, run_batch
from .spec import BatchSpec, BatchSpecError, ItemSpec, PipelineSpec, load_spec

__all__ = [
    "BatchError",
    "BatchReport",
    "BatchSpec",
    "BatchSpecError",
    "ItemOutcome",
    "ItemSpec",
    "PipelineSpec",
    "content_hash",
    "format_summary",
    "input_hash",
    "load_spec",
    "run_batch",
    "run_item",
]
