"""Local mode: stand-ins for infrastructure (embedded PostgreSQL, the Stripe emulator, the NPPES
registry) so `make run` and `make test` need nothing but Python, and the helpers that drive them
(`mdmatch pay`, `mdmatch demo`). Never used in production: the PostgreSQL server and the emulator
come from the `local` extra, and production settings refuse the emulator and the NPPES stand-in."""
