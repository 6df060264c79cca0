"""Bayes factors and posterior model probabilities from evidence estimates."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._result import EvidenceResult

__all__ = ["compare"]


def compare(results: Mapping[str, EvidenceResult], prior_probabilities=None):
    """Rank models by their log evidence: Bayes factors and posterior model probabilities.

    Parameters
    ----------
    results : dict of str -> EvidenceResult
        One evidence estimate per model, by model name (same data for all).
    prior_probabilities : dict of str -> float, optional
        Prior model probabilities (normalised here); equal by default.

    Returns
    -------
    pandas.DataFrame
        Indexed by model, best first, with columns ``log_evidence``, ``std_error``, ``method``,
        ``log_bayes_factor`` (``log p(y | best) − log p(y | model)``, so 0 for the best and
        positive otherwise), ``log_bf_std_error`` (``√(se_best² + se²)``, independent
        estimates) and ``posterior_probability``.
    """
    import pandas as pd

    if not isinstance(results, Mapping) or not results:
        raise TypeError("results must be a non-empty dict of model name -> EvidenceResult")
    for name, result in results.items():
        if not isinstance(result, EvidenceResult):
            raise TypeError(f"results[{name!r}] must be an EvidenceResult, got {result!r}")
        if not np.isfinite(result.log_evidence):
            raise ValueError(f"results[{name!r}].log_evidence is not finite: {result!r}")
    names = list(results)
    if prior_probabilities is None:
        prior = np.full(len(names), 1.0 / len(names))
    else:
        missing = set(names) - set(prior_probabilities)
        if missing:
            raise ValueError(f"prior_probabilities lacks the model(s) {sorted(missing)}")
        prior = np.array([float(prior_probabilities[n]) for n in names])
        if np.any(prior <= 0) or not np.all(np.isfinite(prior)):
            raise ValueError(
                f"prior_probabilities must be positive, got {dict(prior_probabilities)}"
            )
        prior = prior / prior.sum()
    log_z = np.array([results[n].log_evidence for n in names])
    se = np.array([results[n].std_error for n in names])
    log_post = log_z + np.log(prior)
    probabilities = np.exp(log_post - np.logaddexp.reduce(log_post))
    best = int(np.argmax(log_z))
    table = pd.DataFrame(
        {
            "log_evidence": log_z,
            "std_error": se,
            "method": [results[n].method for n in names],
            "log_bayes_factor": log_z[best] - log_z,
            "log_bf_std_error": np.where(
                np.arange(len(names)) == best, 0.0, np.hypot(se[best], se)
            ),
            "posterior_probability": probabilities,
        },
        index=pd.Index(names, name="model"),
    )
    return table.sort_values("log_evidence", ascending=False)
