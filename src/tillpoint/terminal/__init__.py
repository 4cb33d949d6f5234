"""The virtual terminal: a client library for the POS 8583 profile, and its UIs."""
