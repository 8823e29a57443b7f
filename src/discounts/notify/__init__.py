"""E-mail: new codes fanned out to users, and each usage reported to its brand."""
