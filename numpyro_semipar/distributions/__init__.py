"""distributions subpackage."""

__all__: list[str] = []
