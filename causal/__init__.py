"""Which change matters: the weight-space difference of a tuned run (`weights`), its update taken back block by block
and head by head (`revert`), and the probed concept erased from its hidden states (`amnesic`). Interventions are
forward passes with tensors swapped in place (`params`) and scored on the same batches (`score`)."""
