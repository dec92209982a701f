"""Cortex-M profiler: the model built into a real TFLite Micro + CMSIS-NN firmware with
arm-none-eabi-gcc, run under qemu-system-arm, measured from the firmware itself.

Modules, one job each: toolchain (find the tools and the TFLM tree), boards (qemu machine
models and their memory maps), kernels (which TFLM sources and resolver calls a model needs),
library (the cached TFLM static library), firmware (per-model sources and link), qemu (run
with the instruction-count plugin), profiler (the numbers a report needs).
"""
