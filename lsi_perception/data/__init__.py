"""Datasets (KAIST, UTokyo, synthetic drives), paired transforms and batching. See data/README.md."""
from .collate import Batch, collate_samples
from .kaist import KaistDataset, read_image_list
from .sample import KAIST_IGNORE_LABELS, Sample
from .synthetic import SyntheticConfig, generate_dataset, generate_drive, plan_drives
from .utokyo import UTokyoDataset

__all__ = [
    "Batch", "KAIST_IGNORE_LABELS", "KaistDataset", "Sample", "SyntheticConfig", "UTokyoDataset",
    "collate_samples", "generate_dataset", "generate_drive", "plan_drives", "read_image_list",
]
