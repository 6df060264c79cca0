"""mcmc subpackage."""

__all__: list[str] = []
