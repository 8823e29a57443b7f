"""HTTP: thin routers that translate requests into domain calls and domain errors into problems."""
