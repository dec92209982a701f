"""Compression algorithms, free of the build's layout (the steps call them):
distillation (distill.py, losses.py, augment.py), structured pruning and magnitude masks
(structured.py), layer sharing, embedding factorization and weight clustering (share.py),
vocabulary pruning (vocab.py), quantization (quantize.py, quant_report.py) and early-exit heads
(exit_heads.py)."""
