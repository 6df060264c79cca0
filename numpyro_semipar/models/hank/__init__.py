"""The one-asset HANK of sequence-jacobian as a host log posterior (optional extra ``hank``).

Importing this package does not import sequence-jacobian; the first evaluation does.
"""

__all__ = [
    "COUNTERS",
    "HANK_PARAM_NAMES",
    "HANK_START",
    "SECONDS",
    "HankPosterior",
    "ge_jacobian",
    "hank_priors",
    "household_solution",
    "load_hank_data",
    "to_parameters",
    "to_unconstrained",
]

from ._one_asset import COUNTERS as COUNTERS
from ._one_asset import HANK_PARAM_NAMES as HANK_PARAM_NAMES
from ._one_asset import HANK_START as HANK_START
from ._one_asset import SECONDS as SECONDS
from ._one_asset import HankPosterior as HankPosterior
from ._one_asset import ge_jacobian as ge_jacobian
from ._one_asset import hank_priors as hank_priors
from ._one_asset import household_solution as household_solution
from ._one_asset import load_hank_data as load_hank_data
from ._one_asset import to_parameters as to_parameters
from ._one_asset import to_unconstrained as to_unconstrained
