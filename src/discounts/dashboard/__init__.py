"""The brand's dashboard: one-time sign-in links, server-side sessions, CSRF tokens, page rendering."""
