"""The engine: a fitted model, the live and editorial state and the ranking, put together;
what the command line and the HTTP service call."""
