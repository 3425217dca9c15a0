"""Local stand-ins for infrastructure (embedded PostgreSQL, the Stripe emulator) so `make run` and
`make test` need nothing but Python. Never used in production: both come from the `local` extra."""
