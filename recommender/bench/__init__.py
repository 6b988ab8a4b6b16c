"""Benchmarks of build, load, query and HTTP cost (run by `alsosee bench`; never imported by
the library)."""
