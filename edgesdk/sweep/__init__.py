"""`edgesdk sweep`: a grid of recipe variants built as Ray tasks, filtered by the target's
budgets, and the Pareto front of what fits (docs/sweep.md).

grid.py reads the grid file into variants (one recipe each); runner.py builds them on Ray,
sharing finished steps through a step store (edgesdk/step_store.py) and resuming from finished
variants; front.py re-times the fitting artifacts in one quiet pass and writes sweep.json,
sweep.md and sweep.png with the front and the best fitting variant.
"""
