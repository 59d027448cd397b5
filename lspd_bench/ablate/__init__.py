"""Ablation matrices: spec parsing, content-addressed cells, the results store, executors."""
