"""The protolens demo: a Django project that uses the ORM, the pipelines and the profiler."""
