"""Panels with latent grouped slopes and interactive fixed effects.

Bai (2009) interactive effects (:class:`InteractiveEffects`), the Classifier-Lasso of Su, Shi and
Phillips (2016) (:class:`CLasso`) and its interactive-effects version by Su and Ju (2018)
(:class:`SuJu`), with their numerical building blocks.
"""

from ._bai import BaiFit as BaiFit
from ._bai import EffectsFit as EffectsFit
from ._bai import bai_bias as bai_bias
from ._bai import bai_covariance as bai_covariance
from ._bai import bai_fit as bai_fit
from ._bai import bai_fit_effects as bai_fit_effects
from ._classo import CLasso as CLasso
from ._classo_step import CLassoState as CLassoState
from ._classo_step import classo_run as classo_run
from ._classo_step import group_soft_threshold as group_soft_threshold
from ._classo_step import solve_block as solve_block
from ._classo_step import unit_coefficients as unit_coefficients
from ._criteria import ahn_horenstein as ahn_horenstein
from ._criteria import bai_ng_criterion as bai_ng_criterion
from ._criteria import factor_eigenvalues as factor_eigenvalues
from ._criteria import group_criterion as group_criterion
from ._criteria import lambda_from_c as lambda_from_c
from ._criteria import onatski as onatski
from ._criteria import tuning_grid as tuning_grid
from ._data import PanelData as PanelData
from ._data import as_panel_data as as_panel_data
from ._group_prediction import predict_groups as predict_groups
from ._interactive_effects import InteractiveEffects as InteractiveEffects
from ._jackknife import half_panels as half_panels
from ._jackknife import split_panel_jackknife as split_panel_jackknife
from ._path import kmeans as kmeans
from ._pca import principal_factors as principal_factors
from ._suju import GroupedFit as GroupedFit
from ._suju import SuJu as SuJu
from ._suju import grouped_interactive_effects as grouped_interactive_effects
from ._suju import heterogeneous_interactive_effects as heterogeneous_interactive_effects

__all__ = [
    "BaiFit",
    "CLasso",
    "CLassoState",
    "EffectsFit",
    "GroupedFit",
    "InteractiveEffects",
    "PanelData",
    "ahn_horenstein",
    "as_panel_data",
    "bai_bias",
    "bai_covariance",
    "bai_fit",
    "bai_fit_effects",
    "bai_ng_criterion",
    "classo_run",
    "factor_eigenvalues",
    "group_criterion",
    "group_soft_threshold",
    "grouped_interactive_effects",
    "half_panels",
    "heterogeneous_interactive_effects",
    "kmeans",
    "lambda_from_c",
    "onatski",
    "predict_groups",
    "principal_factors",
    "solve_block",
    "split_panel_jackknife",
    "SuJu",
    "tuning_grid",
    "unit_coefficients",
]
