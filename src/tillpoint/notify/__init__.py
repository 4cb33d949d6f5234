"""Telling merchants what happened: payment events, signed webhooks, live streams."""
