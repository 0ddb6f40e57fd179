"""Analytics: Polars jobs that turn usage into answers."""
