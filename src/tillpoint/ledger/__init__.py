"""The double-entry ledger: every fen that moves between the card organisations, the
merchants and the acquirer, as immutable balanced journal entries."""
