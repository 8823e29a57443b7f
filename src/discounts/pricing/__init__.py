"""Pricing: what a rule takes off which lines of a cart, to the cent. Pure code on integer cents, no I/O."""
