"""Building blocks of the local GCP twin started by ``scripts/twin.py``."""
