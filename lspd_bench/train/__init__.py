"""Training: heatmap losses with intermediate supervision, pose distillation, resumable runs."""
