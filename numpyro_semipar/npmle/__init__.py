"""npmle subpackage."""

__all__: list[str] = []
