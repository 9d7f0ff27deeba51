"""Learning from conversations: the training set DORA builds from what users chose to share
(``dora train data``), LoRA SFT and DPO, merging and evaluation (``dora train sft|dpo|eval``).

Optional (``pip install -e .[train]``): only ``dora train`` imports this package, and its modules
import torch, transformers, TRL, PEFT, ``datasets`` and natasha inside their functions, so
``dora --help`` stays fast and the rest of DORA never loads them (an import-linter contract keeps it so).
"""
