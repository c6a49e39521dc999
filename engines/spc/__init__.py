"""Statistical process control: EWMA drift charts and PCA (Hotelling T^2 / SPE) monitoring."""
from engines.spc.ewma import DEFAULT_L, DEFAULT_LAMBDA, EwmaState, L_for_arl0, ewma_arl, ewma_update
from engines.spc.pca import PcaModel, fit_pca

__all__ = ["DEFAULT_L", "DEFAULT_LAMBDA", "EwmaState", "ewma_arl", "ewma_update", "L_for_arl0", "PcaModel", "fit_pca"]
