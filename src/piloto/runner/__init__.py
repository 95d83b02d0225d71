"""The runner: claims confirmed runs, executes their steps, retries, recovers after a crash."""
