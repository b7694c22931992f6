"""b12ms: look for, read and act on vitamin B12 deficiency in MS and MS-like presentations."""

__version__ = "0.1.0"
