"""Discount codes for online marketplaces: brands create them, users redeem each once."""
