"""Field-development planner: where should the next wells go?

- :mod:`~engines.reservoir.simulator`: batched fully implicit single-phase black-oil simulator
  (Cartesian 2D/3D, heterogeneous k and phi, gravity, rock compressibility, PVT table, Peaceman wells
  under BHP or rate control, material balance every step); backends: NumPy, the compiled kernel
  :mod:`~engines.reservoir.numba_kernel` (default) and :mod:`~engines.reservoir.torch_backend` (any device).
- :mod:`~engines.reservoir.economics`: NPV of the reference study, IRR, PVI, utility index.
- :mod:`~engines.reservoir.problem`: the placement problem (constraints, symmetry-aware cache).
- :mod:`~engines.reservoir.ga`: the reference study's simple GA and the default elitist GA.
- :mod:`~engines.reservoir.certify`: certified optimum by exhaustive search (symmetry + bounds), and the
  brute force over every plan.
- :mod:`~engines.reservoir.opm`, :mod:`~engines.reservoir.opm_compare`: OPM Flow decks, runs,
  summaries, OPM as the optimizer's simulator, step-by-step comparison.
- :mod:`~engines.reservoir.case`, :mod:`~engines.reservoir.channels`: case files and generators.
- :func:`engines.reservoir.planner.run_placement`: the one entry point for the service and the CLI.
"""
from engines.reservoir.planner import PlacementResult, run_placement

__all__ = ["PlacementResult", "run_placement"]
