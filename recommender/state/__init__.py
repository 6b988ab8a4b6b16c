"""The live and editorial state: the state database, live articles, takedowns, pins, blocks."""
