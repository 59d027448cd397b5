"""Ablation matrices: spec parsing (``matrix``), planning and the dry run (``plan``), executors, the shared
work (``shared``), the live view's events (``progress``), the latency phase (``latency``), the driver
(``run``) and the content-addressed results store (``store``)."""
