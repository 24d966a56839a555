"""LoRA and QLoRA: wrap a model so that only low-rank adapters (and a classification head) train."""

from __future__ import annotations


def add_lora(model, head: str, targets: tuple[str, ...] | None, four_bit: bool, rank: int = 16, alpha: int = 32,
             dropout: float = 0.05):
    """Attach fresh LoRA adapters; a classification head stays fully trainable (PEFT `modules_to_save`).

    Args:
        model: A token- or sequence-classification model or a causal LM (4-bit NF4 weights for QLoRA).
        head: "token", "sequence", "multilabel" or "causal-lm" (instruction tuning: the LM head stays frozen).
        targets: Module names to adapt; None lets PEFT pick its default for the architecture.
        four_bit: Prepare a 4-bit model for k-bit training first (norms in float32, input grads on).
        rank, alpha, dropout: LoRA hyper-parameters.

    Returns:
        The `PeftModel`. Its LoRA B matrices start at zero, so before training it computes exactly what the
        base model with the same head computes.
    """
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    if four_bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = LoraConfig(
        task_type={"token": TaskType.TOKEN_CLS, "sequence": TaskType.SEQ_CLS, "multilabel": TaskType.SEQ_CLS,
                   "causal-lm": TaskType.CAUSAL_LM}[head],
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets) if targets else None,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        from bioprobe.errors import BioprobeError

        raise BioprobeError(f"LoRA cannot adapt this architecture ({str(err).splitlines()[0]}); use a registered "
                            "model or --no-lora.") from None


def trainable_parameters(model) -> int:
    """Number of parameters that receive gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
