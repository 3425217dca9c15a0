"""Outbound webhooks: clinics and operations register endpoints that receive engagement events,
signed like Stripe's (docs/webhooks.md)."""
