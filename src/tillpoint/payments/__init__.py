"""Payments: one record per payment with one state machine; the acquiring flows."""
