"""Running tasks: the job (submit → poll → store → settle → notify) and the runners that host it."""
