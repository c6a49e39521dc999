"""Information criteria for least-squares fits (model selection among Arps candidates).

For ``n`` residuals with Gaussian errors of unknown variance, the maximised log-likelihood is
``ln L = -n/2 [ln(2 pi RSS / n) + 1]``. Dropping the constant ``n (ln 2 pi + 1)`` that every
candidate shares (Burnham & Anderson 2002, "Model Selection and Multimodel Inference", 2nd ed.,
section 2.2, eq. for the least-squares case; sections 2.4 for AICc, 6.4 for BIC):

* ``AIC  = n ln(RSS / n) + 2 K``                      (Akaike 1974)
* ``AICc = AIC + 2 K (K + 1) / (n - K - 1)``           (Hurvich & Tsai 1989; ``inf`` if ``n <= K + 1``)
* ``BIC  = n ln(RSS / n) + K ln n``                    (Schwarz 1978)

``K`` counts the curve parameters **plus one for the error variance**. Residuals here are in
``ln q``. ``RSS`` is floored at ``n * SIGMA_FLOOR**2`` so that noise-free data (exact fits to
machine precision) rank candidates by their parameter count instead of by rounding noise.
"""
from __future__ import annotations

import math

#: smallest residual standard deviation (in ln q) treated as distinct from an exact fit
SIGMA_FLOOR: float = 1e-9

CRITERIA: tuple[str, ...] = ("aicc", "aic", "bic")


def information_criteria(rss: float, n: int, n_curve_params: int) -> tuple[float, float, float]:
    """``(AIC, AICc, BIC)`` for a least-squares fit with ``n`` residuals and ``n_curve_params`` parameters."""
    if n < 1:
        raise ValueError("n must be >= 1")
    if rss < 0.0 or not math.isfinite(rss):
        raise ValueError("rss must be finite and >= 0")
    k = n_curve_params + 1
    rss_eff = max(rss, n * SIGMA_FLOOR**2)
    base = n * math.log(rss_eff / n)
    aic = base + 2.0 * k
    aicc = aic + 2.0 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.inf
    bic = base + k * math.log(n)
    return aic, aicc, bic


def akaike_weights(scores: list[float]) -> list[float]:
    """Relative likelihoods ``exp(-delta/2)`` normalised to 1 (Burnham & Anderson 2002, eq. 2.14)."""
    finite = [s for s in scores if math.isfinite(s)]
    if not finite:
        return [1.0 / len(scores)] * len(scores)
    best = min(finite)
    raw = [math.exp(-0.5 * (s - best)) if math.isfinite(s) else 0.0 for s in scores]
    total = sum(raw)
    return [r / total for r in raw]
