"""One adapter module per task queue under test; each runs in that system's virtualenv."""
