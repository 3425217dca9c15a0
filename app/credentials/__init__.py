"""Credentials you can trust: what was checked, against what source, by which method, with what
result, when, and when it must be checked again (provenance); and the operations review queue
for what only a person can decide (an uploaded document, a possible exclusion match)."""
