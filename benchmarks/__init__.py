"""Benchmarks of asynq side by side with other Python task queues: see benchmarks/README.md.

A package only so that the adapters run as ``python -m benchmarks.systems.<name>`` (a script
named ``celery.py`` run directly would shadow the real ``celery``).
"""
