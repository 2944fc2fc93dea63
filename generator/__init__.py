"""ai-backend-unified: the config compiler and its tooling."""

__version__ = "0.1.0"
