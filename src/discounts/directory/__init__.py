"""The marketplace's brands and users, as far as we need them: to address e-mail."""
