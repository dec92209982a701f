"""The recipe's distillation sections (`distill:` and what it nests): losses, augmentation,
Quant-Noise and BERT-of-Theseus module replacement. Re-exported by edgesdk.recipe, which
holds the other sections; split out only to keep each file one screenful of concerns."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


INTERNAL_LOSSES = ("hidden", "attention", "minilm", "embedding")


class LossWeights(_Section):
    """Weight of each distillation loss; 0 switches a loss off."""

    kd: float = Field(1.0, ge=0.0, description="soft-label KL at the temperature")
    ce: float = Field(0.0, ge=0.0, description="hard-label cross-entropy")
    hidden: float = Field(0.0, ge=0.0, description="TinyBERT hidden-state MSE via learned projection")
    attention: float = Field(0.0, ge=0.0, description="attention-distribution KL over mapped layers")
    minilm: float = Field(0.0, ge=0.0, description="MiniLM last-layer attention + value relation KL")
    embedding: float = Field(0.0, ge=0.0, description="embedding-layer MSE via learned projection")

    @property
    def all_zero(self) -> bool:
        """No loss is on (weights are >= 0): nothing to train on."""
        return not any(self.model_dump().values())

    @property
    def internal(self) -> list[str]:
        """The switched-on losses that read the models' internals (an encoder student only, and
        the teacher run on every batch: they are not cached like soft labels)."""
        return [name for name in INTERNAL_LOSSES if getattr(self, name) > 0]


class AugmentConfig(_Section):
    """TinyBERT-style word replacement by nearest neighbours in the teacher's embedding space."""

    factor: int = Field(0, ge=0, description="augmented copies per training row (0 = off)")
    replace_prob: float = Field(0.3, gt=0.0, le=1.0)
    neighbours: int = Field(15, ge=1)


class QuantNoiseConfig(_Section):
    """Quant-Noise (Fan et al. 2020): a random `rate` of weight blocks fake-quantized per
    training step, the rest in float (edgesdk/compress/quant_noise.py)."""

    rate: float = Field(0.0, ge=0.0, le=1.0, description="fraction of blocks quantized per step (0 = off, 1 = QAT)")
    bits: int = Field(8, ge=2, le=8, description="the quantizer's width (8: int8 artifacts; 4: int4 weights)")
    block_size: int = Field(8, ge=1, description="consecutive input weights of one row quantized together")


class TheseusConfig(_Section):
    """BERT-of-Theseus (Xu et al. 2020): before the usual distillation, `epochs` of training
    in which each student layer stands in for its block of teacher layers with a probability
    rising linearly from `start_rate` to 1 (edgesdk/compress/theseus.py)."""

    epochs: float = Field(0.0, ge=0.0, description="module-replacement epochs (0 = off)")
    start_rate: float = Field(0.5, gt=0.0, le=1.0, description="replacement probability at the start")


class DistillConfig(_Section):
    epochs: float = Field(3.0, gt=0.0)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(5e-4, gt=0.0)
    warmup_ratio: float = Field(0.06, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.01, ge=0.0)
    max_length: int = Field(64, ge=8, le=512)
    temperature: float = Field(2.0, gt=0.0)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    freeze_word_embeddings: bool = Field(False, description="keep the (teacher-initialised) word table fixed")
    losses: LossWeights = LossWeights()
    layer_map: Union[Literal["uniform", "last", "bottom"], list[int]] = "uniform"
    relation_heads: int = Field(4, ge=1, description="MiniLM relation heads (must divide both hidden sizes)")
    two_stage: bool = Field(False, description="TinyBERT: intermediate losses first, then prediction losses")
    intermediate_epochs: float = Field(1.0, gt=0.0)
    augment: AugmentConfig = AugmentConfig()
    max_train_rows: Optional[int] = Field(None, gt=0)
    soft_labels: Literal["fp32", "int8-dynamic"] = Field(
        "fp32", description="precision of the teacher pass that labels the rows and copies (cached)"
    )
    quant_noise: QuantNoiseConfig = QuantNoiseConfig()
    theseus: TheseusConfig = TheseusConfig()
