"""Pure rules of Turnout: no I/O, no clock, no randomness unless passed in."""
