"""Text to features: HTML to plain text, boilerplate removal, the fast word analyzer."""
