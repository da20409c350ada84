"""Workers and the runner: ``BaseWorker`` (lifecycle, activation, jobs), ``WorkerRunner``."""
