"""A department's gallery: who made what, for its manager."""
