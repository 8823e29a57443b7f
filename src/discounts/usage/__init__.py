"""Redemption: the once-per-user check-and-record, and the stores that hold usages."""
