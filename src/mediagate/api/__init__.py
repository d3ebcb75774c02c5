"""Front doors: translation between an API dialect and the core services, nothing else."""
