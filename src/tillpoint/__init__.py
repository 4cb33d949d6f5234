"""Tillpoint: an open-source payment acquiring platform and store point-of-sale."""

__version__ = "0.1.0"
