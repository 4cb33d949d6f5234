"""Money, identifiers, clock, errors, settings, database and migrations."""
