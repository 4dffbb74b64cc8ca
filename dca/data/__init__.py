"""Datasets: the registry (``config/datasets.yaml``), download, conversion to the processed format,
splits, synthetic data and loading. Submodules are imported on use, so ``import dca.data`` stays light.
"""
