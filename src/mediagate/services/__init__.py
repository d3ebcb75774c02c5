"""Core services: every decision about tasks, money, limits and assets lives here, in transactions."""
