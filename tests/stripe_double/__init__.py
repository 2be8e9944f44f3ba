"""Local Stripe for the tests: localstripe, fronted by a small double (see server.py)."""
