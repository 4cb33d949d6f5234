"""Clearing and settlement: business days, the settlement run, payouts to merchants."""
