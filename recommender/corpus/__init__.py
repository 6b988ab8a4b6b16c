"""Reading a newsroom corpus (CSV, JSON lines, Parquet, WordPress WXR) into the canonical table."""
