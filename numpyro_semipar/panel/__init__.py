"""panel subpackage."""

__all__: list[str] = []
