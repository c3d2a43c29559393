"""horae: a distributed cron for containers, speaking Chronos's REST API."""

__version__ = "0.1.0"
