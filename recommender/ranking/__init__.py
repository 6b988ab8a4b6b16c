"""Ranking options (their declaration and validation) and the vectorised ranking steps."""
