"""`make bench` (`python -m benchmarks.run`): this project against the course pipeline."""
