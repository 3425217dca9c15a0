"""Compliance documents: each engagement's agreements, protocols, standing orders and plans,
generated from versioned templates, signed by the parties in the product, sealed with the
platform's key, filed with the states that ask for it, and kept current as the engagement
changes (docs/documents.md). This domain reacts to the engagement's events through jobs; no
older domain imports it."""
