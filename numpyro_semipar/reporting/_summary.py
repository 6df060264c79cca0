"""A DataFrame that prints like a statsmodels summary."""

from __future__ import annotations

import pandas as pd

__all__ = ["EstimationSummary"]


class EstimationSummary(pd.DataFrame):
    """Coefficient table with a descriptive header.

    It is a plain :class:`pandas.DataFrame` for computation (indexing, ``to_latex``, ...);
    printing it shows the header (estimator, sample size, fit statistics) above the table.
    Derived frames (slices, arithmetic) are plain DataFrames.
    """

    _metadata = ["header"]

    def __init__(self, *args, header: list[tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header = list(header or [])

    @property
    def _constructor(self):
        return pd.DataFrame

    def as_text(self) -> str:
        """Return the header and table as fixed-width text."""
        table = pd.DataFrame(self).to_string(float_format=lambda v: f"{v:.4g}")
        width = max(len(line) for line in table.splitlines())
        label_width = max((len(k) for k, _ in self.header), default=0)
        lines = ["=" * width]
        lines += [f"{k + ':':<{label_width + 2}}{v}" for k, v in self.header]
        lines += ["-" * width, table, "=" * width]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.as_text()

    def __str__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        head = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.header)
        return f"<table>{head}</table>" + pd.DataFrame(self).to_html(float_format="{:.4g}".format)
