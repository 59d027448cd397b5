"""Datasets: the synthetic pose benchmark, MPII and COCO loaders, augmentation and targets."""
