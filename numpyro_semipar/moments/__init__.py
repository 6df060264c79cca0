"""moments subpackage."""

__all__: list[str] = []
