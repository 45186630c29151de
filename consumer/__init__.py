"""wirefeed: parse, deduplicate and republish news-agency wire stories over Kafka."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wirefeed")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
