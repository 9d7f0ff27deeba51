"""Fine-tuning the companion's model on conversations: datasets, LoRA SFT and DPO, merging, evaluation.

Optional (``pip install -e .[train]``): only ``dora train`` imports this package, and its modules
import torch, transformers, TRL, PEFT and ``datasets`` inside their functions, so ``dora --help``
stays fast and the rest of DORA never loads them (an import-linter contract keeps it so).
"""
