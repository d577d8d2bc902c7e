"""ImageNet weights for the two PVT-v2 backbones: from a local file or timm's Hugging Face hub entry.

    desc = init_backbones(net, model_cfg)   # trainer, fresh runs only (a resumed run has its own weights)

Order: ``model.pretrained_path`` (a local .safetensors / .pth / .bin in timm or original PVT-v2 keys)
-> the hub (``timm/pvt_v2_bN.in1k``) when ``model.allow_download`` -> random initialization, only when
``model.allow_random_init``. Anything else is a ``PretrainedWeightsError`` whose message says how to get
the weights. Both streams get the same RGB weights; the thermal stream (``in_chans=1``) gets the stem
kernel summed over the three RGB channels (timm's ``adapt_input_conv``), so a gray image gives the same
response a gray RGB image would. File and hub weights go through the same code.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch
from timm.models import adapt_input_conv, get_pretrained_cfg
from timm.models.pvt_v2 import checkpoint_filter_fn

from lsi_perception.config import ModelConfig
from lsi_perception.model.backbone import PVTBackbone

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
_NESTED_KEYS = ("state_dict", "model", "state_dict_ema", "model_ema")
_WRAPPER_PREFIXES = ("module.", "model.", "backbone.")


class PretrainedWeightsError(ValueError):
    """Backbone weights missing or unusable (a ValueError: the CLI prints it without a traceback);
    the message says how to get them."""


def hub_id(backbone: str) -> str:
    """timm's Hugging Face hub repository of ``backbone``'s ImageNet weights, e.g. ``timm/pvt_v2_b2.in1k``."""
    cfg = get_pretrained_cfg(backbone)
    return str(cfg.hf_hub_id) if cfg is not None and cfg.hf_hub_id else f"timm/{backbone}.in1k"


def how_to_get_weights(backbone: str) -> str:
    """The instructions every refusal carries."""
    repo = hub_id(backbone)
    folder = "models--" + repo.replace("/", "--")
    return (
        f"ImageNet weights for {backbone} are timm's {repo}. Either\n"
        f"  - on a machine with internet, fetch them once:\n"
        f"      python -c \"import timm; timm.create_model('{backbone}', pretrained=True)\"\n"
        f"    (lands in ~/.cache/huggingface/hub/{folder}/snapshots/<hash>/model.safetensors), or\n"
        f"      huggingface-cli download {repo} model.safetensors --local-dir weights/{backbone}\n"
        f"    then copy the file here and set model.pretrained_path=<that file> "
        f"(or copy the whole ~/.cache/huggingface/hub folder and keep model.allow_download=true; "
        f"HF_HUB_OFFLINE=1 skips the network retries), or\n"
        f"  - train from random initialization on purpose with model.allow_random_init=true "
        f"(far worse on KAIST-sized data)."
    )


def read_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors, or a torch file (.pth/.pt/.bin, plain or nested under
    ``state_dict``/``model``), without wrapper prefixes (``module.``, ``model.``, ``backbone.``)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PretrainedWeightsError(f"model.pretrained_path={str(path)!r} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise many types for a bad file
        raise PretrainedWeightsError(
            f"model.pretrained_path={str(path)!r} could not be read as a weights file "
            f"({', '.join(WEIGHT_SUFFIXES)}): {exc}"
        ) from exc
    for key in _NESTED_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedWeightsError(f"{path} does not hold a state dict of tensors")
    out = {}
    for key, value in state.items():
        for prefix in _WRAPPER_PREFIXES:
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def _hub_state_dict(backbone: str) -> dict[str, torch.Tensor]:
    import timm

    return timm.create_model(backbone, pretrained=True).state_dict()


def load_into_backbone(backbone: PVTBackbone, state: dict[str, torch.Tensor], source: str) -> int:
    """Copy ImageNet weights (timm classification keys or original PVT-v2 keys) into ``backbone``;
    the stem is adapted to ``backbone.in_chans``. Returns the number of tensors loaded."""
    state = checkpoint_filter_fn(dict(state), None)
    target = backbone.body.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    missing, mismatched = [], []
    for key, like in target.items():
        donor_key = re.sub(r"^stages_(\d+)\.", r"stages.\1.", key)
        if donor_key not in state:
            missing.append(key)
            continue
        value = state[donor_key]
        if key == "patch_embed.proj.weight" and value.shape[1] != like.shape[1]:
            value = adapt_input_conv(like.shape[1], value.float()).to(value.dtype)
        if value.shape != like.shape:
            mismatched.append(f"{key}: file {tuple(value.shape)} vs model {tuple(like.shape)}")
            continue
        mapped[key] = value.to(like.dtype)
    if missing or mismatched:
        raise PretrainedWeightsError(
            f"{source} does not fit {backbone.name}: {len(missing)} tensors missing "
            f"(e.g. {missing[:3]}), {len(mismatched)} of another shape (e.g. {mismatched[:2]}). "
            f"Is it the ImageNet checkpoint of {backbone.name} (not another pvt_v2 size)?"
        )
    backbone.body.load_state_dict(mapped, strict=True)
    return len(mapped)


def planned_source(cfg: ModelConfig) -> str:
    """Where ``init_backbones`` will look first, for the log line printed before it (a hub attempt
    without network retries for about a minute before it fails)."""
    if cfg.pretrained_path is not None:
        return f"local file {cfg.pretrained_path}"
    if cfg.allow_download:
        return (f"the Hugging Face hub, {hub_id(cfg.backbone)} (without network this retries for about a minute; "
                "HF_HUB_OFFLINE=1 or model.pretrained_path avoid it)")
    return "none: random initialization" if cfg.allow_random_init else "none given"


def init_backbones(net: torch.nn.Module, cfg: ModelConfig) -> str:
    """Initialize ``net.rgb_backbone`` and ``net.thermal_backbone`` per ``cfg`` (see the module
    docstring); returns a one-line description for the log and the checkpoint provenance."""
    if cfg.pretrained_path is not None:
        state = read_weights_file(cfg.pretrained_path)
        source = f"local file {cfg.pretrained_path}"
    elif cfg.allow_download:
        try:
            state = _hub_state_dict(cfg.backbone)
        except Exception as exc:  # offline, no cache, proxy, ...: many exception types
            if not cfg.allow_random_init:
                raise PretrainedWeightsError(
                    f"could not fetch {hub_id(cfg.backbone)} from the Hugging Face hub "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).\n"
                    + how_to_get_weights(cfg.backbone)
                ) from exc
            warnings.warn(f"{hub_id(cfg.backbone)} unavailable ({type(exc).__name__}); "
                          "model.allow_random_init=true: backbones start from random weights", stacklevel=2)
            return "random (hub unavailable)"
        source = f"hub {hub_id(cfg.backbone)}"
    elif cfg.allow_random_init:
        return "random"
    else:
        raise PretrainedWeightsError(
            "no backbone weights: model.pretrained_path is null, model.allow_download=false and "
            "model.allow_random_init=false.\n" + how_to_get_weights(cfg.backbone)
        )
    for backbone in (net.rgb_backbone, net.thermal_backbone):
        load_into_backbone(backbone, state, source)
    return f"ImageNet ({source})"
