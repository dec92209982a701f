"""Quantizer registry: (runtime, precision) -> how a deployable fp32 module becomes the
quantized eager module that runtime lowers at that precision, in the style of torchao's
config -> handler registry. The quantized module is both what the lower step hands the
backend and the fake-quant reference the artifact must match; backends only lower what they
are given (LiteRT's post-training int8 itself runs on the converted flatbuffer, by
ai-edge-quantizer: the handler prepares the module it converts).

A handler takes (module, calibration, quantize config, seq_len) and may change the module in
place; callers pass a copy (steps/lower.quantized_module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from edgesdk.converters.xnnpack_rewrite import xnnpack_layer_norms
from torch import nn

from edgesdk.compress.quant_methods import int4_weights, int8_embeddings, pt2e_quantize
from edgesdk.errors import ArtifactError
from edgesdk.models.encoder import SigmoidGELU

if TYPE_CHECKING:
    from edgesdk.compress.quant_methods import Calibration
    from edgesdk.recipe import QuantizeConfig

Quantizer = Callable[[nn.Module, "Calibration", "QuantizeConfig", int], nn.Module]

QUANTIZERS: dict[tuple[str, str], Quantizer] = {}


def register_quantizer(runtime: str, precision: str) -> Callable[[Quantizer], Quantizer]:
    def add(handler: Quantizer) -> Quantizer:
        QUANTIZERS[(runtime, precision)] = handler
        return handler

    return add


def quantizer_for(runtime: str, precision: str) -> Quantizer:
    if (runtime, precision) not in QUANTIZERS:
        known = sorted(p for r, p in QUANTIZERS if r == runtime)
        raise ArtifactError(f"{runtime} has no {precision} quantizer (it has {', '.join(known) or 'none'})")
    return QUANTIZERS[(runtime, precision)]


def _xnnpack_pt2e(model, calibration, config, seq_len, dynamic: bool):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (  # heavy: the ExecuTorch compiler
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic)
    )
    if dynamic:  # the dynamic quantizer annotates linears only: the norms stay fp32 ops
        model = xnnpack_layer_norms(model)
    return pt2e_quantize(int8_embeddings(model, config, float_activations=dynamic), quantizer, calibration, seq_len)


@register_quantizer("executorch", "int8")
def executorch_int8(model, calibration, config, seq_len):
    return _xnnpack_pt2e(model, calibration, config, seq_len, dynamic=False)


@register_quantizer("executorch", "int8-dynamic")
def executorch_int8_dynamic(model, calibration, config, seq_len):
    return _xnnpack_pt2e(model, calibration, config, seq_len, dynamic=True)


@register_quantizer("executorch", "int4w")
def executorch_int4_weights(model, calibration, config, seq_len):
    return int4_weights(int8_embeddings(model, config, float_activations=True), config.group_size)


INT8_MASK_BIAS = -30.0


@register_quantizer("litert", "int8")
def full_int8_module(model, calibration, config, seq_len):
    """The eager reference of the full-int8 path: fp32 weights, with the mask bias cut so one
    per-tensor int8 scale holds attention scores (-1e4 would swamp them; min-max calibration
    does not clip it). Keys under the mask still get weight exp(-30) relative: nil."""
    if hasattr(model, "mask_bias"):
        model.mask_bias = INT8_MASK_BIAS
    return model


@register_quantizer("litert", "int8-dynamic")
def dynamic_module(model, calibration, config, seq_len):
    # int8: one scale per table (ai-edge-quantizer would write a scale/zero-point pair per row
    # of a gathered scale column, 12 B a row); int4 needs its per-row scales and pays that.
    return int8_embeddings(model, config, per_row=False, float_activations=True)


@register_quantizer("tflm", "int8")
def tflm_module(model, calibration, config, seq_len):
    """The full-int8 reference module (see full_int8_module) without GELU: TFLM has no GELU
    kernel, so x*sigmoid(1.702x) stands in for it."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.GELU):
                setattr(module, name, SigmoidGELU())
    return full_int8_module(model, calibration, config, seq_len)
