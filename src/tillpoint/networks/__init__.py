"""Card networks and wallets behind one connector interface; simulators for tests and demos."""
