"""Fan-out pipelines on Celery with soft retry."""
