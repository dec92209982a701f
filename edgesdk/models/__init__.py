"""Models: the export-clean Encoder and importers of HF checkpoints into it."""

from edgesdk.models.encoder import Encoder, EncoderConfig, LayerShape

__all__ = ["Encoder", "EncoderConfig", "LayerShape"]
