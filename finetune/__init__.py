"""Fine-tuning: task heads, LoRA/QLoRA, training at a training size, evaluation on the test split."""
