"""The pipeline's steps, in the order they run (edgesdk.pipeline.build runs them).

One module per step; each declares its inputs (recipe sections, the data, upstream steps'
outputs) and outputs in a `STEP` (see steps/base.py).
"""

from edgesdk.steps import data, exits, fit, lower, package, profile, prune, quantize, student, teacher, verify
from edgesdk.steps.base import Build, Context, Step

PIPELINE: tuple[Step, ...] = tuple(
    m.STEP for m in (data, teacher, student, prune, exits, quantize, lower, verify, profile, fit, package)
)

__all__ = ["PIPELINE", "Build", "Context", "Step"]
