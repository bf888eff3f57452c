"""Export targets a model cannot reach, with the measured reason.

A family states them where it registers its models
(``register_model(..., export_unsupported={"tflite_int8": "reason"})``); the
export matrix test sweeps every registered tiny model over every target: a
pair with a reason must fail with :class:`UnsupportedTarget` naming it (and the
README's matrix shows it), every other pair must pass the gate.
"""

from __future__ import annotations

__all__ = ["TARGETS", "UnsupportedTarget", "target_of", "unsupported_reason", "check_supported"]

#: target name -> the export() arguments it stands for.
TARGETS = {
    "savedmodel": {"format": "savedmodel"},
    "tflite_fp32": {"format": "tflite"},
    "tflite_int8": {"format": "tflite", "quantize": "int8"},
    "onnx": {"format": "onnx"},
}


class UnsupportedTarget(ValueError):
    """This model cannot be exported to this target (see the README's export matrix)."""


def target_of(format: str, quantize) -> str | None:
    for name, args in TARGETS.items():
        if args["format"] == format and args.get("quantize") == quantize:
            return name
    return None


def unsupported_reason(spec, target: str | None) -> str | None:
    """The registered reason why ``spec`` (a ModelSpec or registered name) cannot reach ``target``."""
    if isinstance(spec, str):
        from keras_segattn.registry import find_spec

        spec = find_spec(spec)
    if spec is None or target is None:
        return None
    return spec.export_unsupported.get(target)


def check_supported(spec, label: str, format: str, quantize) -> None:
    """Raise :class:`UnsupportedTarget` if ``spec`` lists ``format``/``quantize`` as unsupported."""
    reason = unsupported_reason(spec, target_of(format, quantize))
    if reason:
        raise UnsupportedTarget(
            f"{label} cannot be exported to {format}{'/' + quantize if quantize else ''}: {reason}"
        )
