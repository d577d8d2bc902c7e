"""Datasets (KAIST, UTokyo, LLVIP, FLIR-aligned, synthetic drives), paired transforms and batching. See data/README.md."""
from .collate import Batch, collate_samples
from .flir_aligned import FlirAlignedDataset
from .kaist import KaistDataset, read_image_list
from .llvip import LLVIPDataset
from .sample import KAIST_IGNORE_LABELS, Sample
from .synthetic import SyntheticConfig, generate_dataset, generate_drive, plan_drives
from .utokyo import UTokyoDataset

__all__ = [
    "Batch", "FlirAlignedDataset", "KAIST_IGNORE_LABELS", "KaistDataset", "LLVIPDataset", "Sample", "SyntheticConfig",
    "UTokyoDataset", "collate_samples", "generate_dataset", "generate_drive", "plan_drives", "read_image_list",
]
