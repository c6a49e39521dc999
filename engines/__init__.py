"""Atilax engines: the functional core (pure numerical code, no I/O, no ThingsBoard)."""
