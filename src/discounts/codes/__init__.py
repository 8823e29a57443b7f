"""Discount rules and the human-readable codes that carry them."""
