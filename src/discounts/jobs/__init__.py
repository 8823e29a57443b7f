"""The background work of every domain: Celery's configuration, its tasks, and who listens to events."""
