"""Signed webhooks (Standard Webhooks): endpoints, a listener of events, and the deliverer."""
