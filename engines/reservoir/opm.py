"""OPM Flow backend: write a case and a placement as an Eclipse deck, run ``flow``, read the summary.

The deck is in FIELD units.  OPM Flow 2022.10 rejects oil-only decks, so the deck declares OIL and
WATER with Sw = 0 and an SWOF table whose krw is 0 at Sw = 0 (immobile water: single-phase oil).
PVDO is this case's PVT resampled every ~25 psi from the same piecewise-linear law, so OPM's own
interpolation (linear in 1/B and 1/(mu B)) matches ours to ~1e-7; each connection's factor is set
explicitly in COMPDAT (the ``CF`` item, rb cp/(d psi)) to our well index; ROCK gives the Eclipse
pore-volume law (``rock_law="eclipse"`` on our side).  Runs use fixed report steps
(``--enable-adaptive-time-stepping=false``) and tight Newton tolerances so the comparison is step by
step.  The summary reader parses the Eclipse binary ``.SMSPEC``/``.UNSMRY`` files (big-endian Fortran
records; Schlumberger, "Eclipse File Formats Reference Manual", 2014).  This module does file and
process I/O by design: it is the bridge to an external simulator.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.reservoir.case import PlacementCase
from engines.reservoir.simulator import SimulationResult
from engines.reservoir.wells import cell_well_index

FLOW_CANDIDATES = ("/usr/bin/flow",)
FLOW_ARGS = ("--enable-adaptive-time-stepping=false", "--tolerance-mb=1e-10", "--tolerance-cnv=1e-8",
             "--newton-max-iterations=40", "--threads-per-process=1")


class FlowNotInstalledError(RuntimeError):
    """``flow`` (OPM Flow) is not available on this machine."""


def find_flow() -> str | None:
    """Path of the OPM Flow executable, or None."""
    for c in FLOW_CANDIDATES:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return shutil.which("flow")


def _fmt_array(values: np.ndarray) -> str:
    v = np.asarray(values, dtype=float).ravel()
    if np.all(v == v[0]):
        return f" {v.size}*{v[0]:.10g} /"
    lines = [" ".join(f"{x:.10g}" for x in v[i:i + 8]) for i in range(0, v.size, 8)]
    return "\n".join(" " + ln for ln in lines) + " /"


def write_deck(case: PlacementCase, columns, title: str | None = None) -> str:
    """Eclipse deck text for ``case`` with producers in ``columns`` (column = nx * row + col)."""
    res = case.reservoir
    cols = sorted(int(c) for c in columns)
    if any(c < 0 or c >= res.n_columns for c in cols):
        raise ValueError(f"columns must be within 0..{res.n_columns - 1}")
    n = res.n_cells
    p_lo = min(case.wells.bhp_psi, float(res.initial_pressures().min())) - 500.0
    p_hi = float(res.initial_pressures().max()) + 500.0
    pvt = res.pvt.resampled(max(p_lo, float(res.pvt.pressure_psi[0])), p_hi, int((p_hi - p_lo) / 25.0) + 1)
    wi = cell_well_index(res, case.wells)
    depth = res.cell_depth_ft
    tops = depth - 0.5 * res.cell_thickness_ft
    nrow = pvt.pressure_psi.size
    out = [
        "-- written by engines.reservoir.opm for case " + case.name,
        "RUNSPEC", "TITLE", " " + (title or case.name)[:70],
        "DIMENS", f" {res.nx} {res.ny} {res.nz} /", "OIL", "WATER", "FIELD",
        "START", " 1 'JAN' 2020 /",
        "WELLDIMS", f" {res.n_columns} {res.nz} 1 {res.n_columns} /",
        "TABDIMS", f" 1 1 20 {max(nrow, 20)} /",
        "UNIFOUT",
        "GRID",
        "DX", _fmt_array(np.full(n, res.dx_ft)),
        "DY", _fmt_array(np.full(n, res.dy_ft)),
        "DZ", _fmt_array(res.cell_thickness_ft),
        "TOPS", _fmt_array(tops),
        "PERMX", _fmt_array(res.kx_md), "PERMY", _fmt_array(res.ky_md), "PERMZ", _fmt_array(res.kz_md),
        "PORO", _fmt_array(res.porosity),
        "PROPS",
        "PVDO",
        "\n".join(f" {p:.6f} {b:.10f} {m:.10f}" for p, b, m in zip(pvt.pressure_psi, pvt.bo_rb_stb, pvt.viscosity_cp)) + " /",
        "PVTW", f" {res.reference_pressure_psi:.6g} 1.0 3.0E-6 0.5 0 /",
        "SWOF", " 0.0 0.0 1.0 0.0", " 1.0 1.0 0.0 0.0 /",
        "ROCK", f" {res.reference_pressure_psi:.10g} {res.rock_compressibility_1_psi:.10g} /",
        "DENSITY", f" {max(res.oil_density_lbm_ft3, 1e-3):.10g} 62.4 0.0458 /",
        "SOLUTION",
        "PRESSURE", _fmt_array(res.initial_pressures()),
        "SWAT", _fmt_array(np.zeros(n)),
        "SUMMARY", "FOPR", "FOPT", "FPR", "WOPR", "/", "WBHP", "/",
        "SCHEDULE",
    ]
    out += _well_keywords(case, cols, wi, depth)
    steps = np.asarray(case.dt_days, dtype=float)
    out += ["TSTEP", _fmt_array(steps), "END", ""]
    return "\n".join(out)


def _well_keywords(case: PlacementCase, cols, wi, depth) -> list[str]:
    res = case.reservoir
    if not cols:
        return []
    welspecs, compdat, wconprod = ["WELSPECS"], ["COMPDAT"], ["WCONPROD"]
    for c in cols:
        j, i = divmod(c, res.nx)
        name = f"P{c}"
        cells = [c + k * res.n_columns for k in range(res.nz) if wi[c + k * res.n_columns] > 0]
        ref = depth[cells[0]]
        welspecs.append(f" '{name}' 'G1' {i + 1} {j + 1} {ref:.10g} 'OIL' /")
        for cell in cells:
            k = cell // res.n_columns
            compdat.append(f" '{name}' {i + 1} {j + 1} {k + 1} {k + 1} 'OPEN' 1* {wi[cell]:.12g} {2 * case.wells.rw_ft:.10g} 1* {case.wells.skin:.10g} /")
        wconprod.append(f" '{name}' 'OPEN' 'BHP' 5* {case.wells.bhp_psi:.10g} /")
    return welspecs + ["/"] + compdat + ["/"] + wconprod + ["/"]


def add_wells_to_deck(deck_text: str, case: PlacementCase, columns, dt_days=None) -> str:
    """Add producers (WELSPECS, COMPDAT with our connection factors, WCONPROD) to a user's own
    Eclipse deck whose grid matches ``case``: they open at the start of the SCHEDULE section (created
    if missing); a TSTEP with the case's steps (or ``dt_days``) is appended only when the deck's
    schedule has no TSTEP/DATES of its own.  Everything else in the deck is kept."""
    lines = deck_text.splitlines()
    upper = [ln.strip().upper() for ln in lines]
    end = upper.index("END") if "END" in upper else len(lines)
    body, tail = lines[:end], lines[end:]
    wi = cell_well_index(case.reservoir, case.wells)
    wells = _well_keywords(case, sorted(int(c) for c in columns), wi, case.reservoir.cell_depth_ft)
    if "SCHEDULE" in upper[:end]:
        at = upper.index("SCHEDULE") + 1
        has_steps = any(u in ("TSTEP", "DATES") for u in upper[at:end])
        body = body[:at] + wells + body[at:]
    else:
        has_steps = False
        body = body + ["SCHEDULE"] + wells
    if not has_steps:
        steps = case.dt_days if dt_days is None else np.asarray(dt_days, dtype=float)
        body += ["TSTEP", _fmt_array(steps)]
    return "\n".join(body + (tail or ["END"]) + [""])


# ----- Eclipse binary summary -------------------------------------------------------------------
_TYPES = {"INTE": (">i4", 4, 1000), "REAL": (">f4", 4, 1000), "DOUB": (">f8", 8, 1000), "LOGI": (">i4", 4, 1000),
          "CHAR": ("S8", 8, 105), "MESS": (None, 0, 1)}


def read_eclipse_binary(path: str | Path) -> list[tuple[str, np.ndarray]]:
    """All (keyword, values) records of an unformatted big-endian Eclipse file."""
    data = Path(path).read_bytes()
    pos = 0
    out = []

    def record() -> bytes:
        nonlocal pos
        (size,) = struct.unpack(">i", data[pos:pos + 4])
        chunk = data[pos + 4:pos + 4 + size]
        (tail,) = struct.unpack(">i", data[pos + 4 + size:pos + 8 + size])
        if tail != size:
            raise ValueError(f"{path}: corrupt record at byte {pos}")
        pos += size + 8
        return chunk

    while pos < len(data):
        head = record()
        name = head[:8].decode("ascii").strip()
        count = struct.unpack(">i", head[8:12])[0]
        typ = head[12:16].decode("ascii")
        if typ.startswith("C0"):
            dtype, size, block = f"S{int(typ[1:])}", int(typ[1:]), 105
        else:
            if typ not in _TYPES:
                raise ValueError(f"{path}: unsupported type {typ}")
            dtype, size, block = _TYPES[typ]
        parts = []
        remaining = count
        while remaining > 0:
            chunk = record()
            parts.append(chunk)
            remaining -= len(chunk) // size
        raw = b"".join(parts)
        vals = np.frombuffer(raw, dtype=dtype) if dtype else np.empty(0)
        if dtype and dtype.startswith("S"):
            vals = np.array([v.decode("ascii").strip() for v in vals])
        out.append((name, vals))
    return out


@dataclass(frozen=True)
class FlowSummary:
    """Report-step series from OPM Flow: ``time_days`` and ``vectors[(keyword, well or ":")]``."""

    time_days: np.ndarray
    vectors: dict

    def get(self, keyword: str, well: str = ":") -> np.ndarray:
        return self.vectors[(keyword, well)]


def read_summary(smspec: str | Path, unsmry: str | Path) -> FlowSummary:
    """Read the report steps of an Eclipse/OPM summary (``.SMSPEC`` + unified ``.UNSMRY``)."""
    spec = dict((k, v) for k, v in read_eclipse_binary(smspec) if k in ("KEYWORDS", "WGNAMES", "NAMES"))
    keys = spec["KEYWORDS"]
    names = spec.get("WGNAMES", spec.get("NAMES"))
    rows = []
    report = []
    for k, v in read_eclipse_binary(unsmry):
        if k == "SEQHDR":
            report.append(len(rows))
        elif k == "PARAMS":
            rows.append(v.astype(float))
    table = np.array(rows)
    # the last ministep of each report step
    ends = [r - 1 for r in report[1:]] + [len(rows) - 1]
    ends = [e for e in ends if e >= 0]
    table = table[ends]
    vectors = {(str(k), ":" if str(w).startswith(":+") or not str(w) else str(w)): table[:, i]
               for i, (k, w) in enumerate(zip(keys, names))}
    return FlowSummary(vectors[("TIME", ":")] if ("TIME", ":") in vectors else table[:, 0], vectors)


def run_flow(deck_text: str, *, workdir: str | Path | None = None, timeout_s: float = 600.0,
             flow: str | None = None) -> FlowSummary:
    """Run OPM Flow on ``deck_text`` and return its summary.  Raises FlowNotInstalledError when
    ``flow`` is absent and RuntimeError (with the log tail) when the run fails."""
    exe = flow or find_flow()
    if exe is None:
        raise FlowNotInstalledError("OPM Flow is not installed (expected /usr/bin/flow; on Debian: "
                                    "apt-get install -y libopm-simulators-bin)")
    own = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="atilax_opm_")) if own else Path(workdir)
    try:
        wd.mkdir(parents=True, exist_ok=True)
        deck = wd / "CASE.DATA"
        deck.write_text(deck_text, encoding="ascii")
        env = dict(os.environ, OMP_NUM_THREADS="1")
        proc = subprocess.run([exe, str(deck), f"--output-dir={wd}", *FLOW_ARGS], cwd=wd, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
        smspec, unsmry = wd / "CASE.SMSPEC", wd / "CASE.UNSMRY"
        if proc.returncode != 0 or not smspec.is_file() or not unsmry.is_file():
            tail = (proc.stdout + proc.stderr)[-2000:]
            raise RuntimeError(f"OPM Flow failed (exit {proc.returncode}):\n{tail}")
        return read_summary(smspec, unsmry)
    finally:
        if own:
            shutil.rmtree(wd, ignore_errors=True)


class FlowBatchSimulator:
    """OPM Flow as the simulator of a :class:`~engines.reservoir.problem.PlacementProblem`: the same
    ``run(masks)`` interface as the built-in ``BatchSimulator``, one ``flow`` process per plan,
    ``max_workers`` at a time.  The material-balance error is not reported by OPM (NaN)."""

    def __init__(self, case: PlacementCase, *, max_workers: int = 2, timeout_s: float = 600.0,
                 deck_text: str | None = None) -> None:
        if find_flow() is None:
            raise FlowNotInstalledError("OPM Flow is not installed (expected /usr/bin/flow; on Debian: "
                                        "apt-get install -y libopm-simulators-bin)")
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.case = case
        self.reservoir = case.reservoir
        self.design = case.wells
        self.dt_days = np.asarray(case.dt_days, dtype=float)
        self.max_workers = int(max_workers)
        self.timeout_s = float(timeout_s)
        self.deck_text = deck_text
        self.linear_solver = "OPM Flow"

    def _deck(self, cols) -> str:
        if self.deck_text is None:
            return write_deck(self.case, cols)
        return add_wells_to_deck(self.deck_text, self.case, cols)

    def run(self, masks, **_ignored) -> SimulationResult:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        plans = [np.flatnonzero(m).tolist() for m in masks]
        t = np.cumsum(self.dt_days)

        def one(cols):
            if not cols:
                return np.zeros((3, t.size))
            s = run_flow(self._deck(cols), timeout_s=self.timeout_s)
            if s.time_days.size != t.size or not np.allclose(s.time_days, t, atol=1e-6):
                raise RuntimeError("OPM Flow report steps do not match the case schedule")
            return np.stack([s.get("FOPR"), s.get("FOPT"), s.get("FPR")])

        with ThreadPoolExecutor(max_workers=self.max_workers) as ex:
            out = np.array(list(ex.map(one, plans)))
        p_init = float(np.mean(self.reservoir.initial_pressures()))
        fpr = np.where(out[:, 2] > 0, out[:, 2], p_init)
        return SimulationResult(time_days=t, oil_rate_stb_d=out[:, 0], cumulative_oil_stb=out[:, 1],
                                average_pressure_psi=fpr, material_balance_error=np.full(out[:, 0].shape, np.nan),
                                newton_iterations=np.zeros(t.size, dtype=int),
                                final_pressure_psi=np.full((len(plans), self.reservoir.n_cells), np.nan),
                                well_rates_stb_d=None)
