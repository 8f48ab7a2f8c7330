"""DonatelloAI: governed, budgeted access to image-generation models for enterprises."""

__version__ = "0.1.0"
