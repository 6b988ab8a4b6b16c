"""Syncing a WordPress site's posts into the live state."""
