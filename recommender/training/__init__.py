"""The offline training job: corpus file(s) to a new verified model version."""
