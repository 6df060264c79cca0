"""Panels with latent grouped slopes and interactive fixed effects.

Bai (2009) interactive effects (:class:`InteractiveEffects`), the Classifier-Lasso of Su, Shi and
Phillips (2016) (:class:`CLasso`) and its interactive-effects version by Su and Ju (2018)
(:class:`SuJu`), with their numerical building blocks.
"""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    submod_attrs={
        "_bai": [
            "BaiFit",
            "EffectsFit",
            "bai_bias",
            "bai_covariance",
            "bai_fit",
            "bai_fit_effects",
        ],
        "_classo": ["CLasso"],
        "_classo_step": [
            "CLassoState",
            "classo_run",
            "group_soft_threshold",
            "solve_block",
            "unit_coefficients",
        ],
        "_criteria": [
            "ahn_horenstein",
            "bai_ng_criterion",
            "factor_eigenvalues",
            "group_criterion",
            "lambda_from_c",
            "onatski",
            "tuning_grid",
        ],
        "_data": ["PanelData", "as_panel_data"],
        "_group_prediction": ["predict_groups"],
        "_interactive_effects": ["InteractiveEffects"],
        "_jackknife": ["half_panels", "split_panel_jackknife"],
        "_path": ["kmeans"],
        "_pca": ["principal_factors"],
        "_suju": [
            "GroupedFit",
            "SuJu",
            "grouped_interactive_effects",
            "heterogeneous_interactive_effects",
        ],
    },
)
