"""The local GCP twin (`make up`): ``python -m twin up|down|status|env``."""

import warnings

# google-api-core's Python-version notices would clutter the demo and backfill consoles.
warnings.filterwarnings("ignore", category=FutureWarning)
