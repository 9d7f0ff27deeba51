"""A tiny Stable Diffusion pipeline from random weights, saved as a real model folder.

No diffusion weights ship in any package and tests never download, so the image generator is tested
on a pipeline built here: the same classes as Stable Diffusion 1.x (CLIP text encoder and
tokenizer, UNet2DConditionModel, AutoencoderKL, DDIM), shrunk until two steps at 32×32 take a
fraction of a second on one CPU thread. It is written with ``save_pretrained`` and read back by the
generator through ``from_pretrained``, the path a real model takes. The images are noise.

The tokenizer is built in memory: CLIP's byte-level BPE with every byte symbol (alone and
word-final) in the vocabulary and no merges, so any text, Cyrillic included, tokenizes to real ids
rather than ``<unk>``. ``safety_checker`` chooses between no checker (as many community models
ship), a checker that passes everything, and one that flags every image, so both sides of the
generator's NSFW handling run through diffusers' own checker code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

CHECKER = Literal["none", "pass", "flag"]
MAX_TOKENS = 77  # the tokenizer's (and text encoder's) context, as in CLIP


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2's ``bytes_to_unicode``)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def make_tokenizer(max_length: int = MAX_TOKENS):  # -> CLIPTokenizer
    """A CLIP tokenizer with no files behind it: every byte symbol, bare and word-final."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in _byte_symbols():
        vocab.setdefault(symbol, len(vocab))
        vocab.setdefault(symbol + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def _safety_checker(flag_all: bool):  # -> (StableDiffusionSafetyChecker, CLIPImageProcessor)
    """diffusers' own checker on a tiny CLIP vision tower. Its concept thresholds decide: at the
    default 1.0 a cosine can never exceed them (nothing flagged); below -1 every image is flagged."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    config = CLIPConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    if flag_all:
        with torch.no_grad():
            checker.concept_embeds_weights.fill_(-2.0)
    extractor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return checker, extractor


def make_tiny_pipeline(folder: Path, *, safety_checker: CHECKER = "none", seed: int = 0) -> Path:
    """Build the tiny pipeline and ``save_pretrained`` it into ``folder``; returns ``folder``.

    Image sizes must be multiples of 2 (the UNet halves once; the VAE does not downsample).
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = make_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=MAX_TOKENS,
            projection_dim=16,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    ).eval()
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    ).eval()
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8,),
        down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    ).eval()
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    checker, extractor = (
        (None, None) if safety_checker == "none" else _safety_checker(safety_checker == "flag")
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=checker,
        feature_extractor=extractor,
        requires_safety_checker=checker is not None,
    )
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder)
    return folder
