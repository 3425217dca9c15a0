"""The Postgres-backed task queue (procrastinate): the app, its runtime and periodic upkeep."""
