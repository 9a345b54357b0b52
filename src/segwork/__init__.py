"""segwork: a research workbench for customer segmentation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segwork")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"
