"""Compression: distillation (distill.py, losses.py, augment.py); pruning and quantization follow."""
