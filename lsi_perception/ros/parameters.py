"""ROS parameter descriptors of the ``lsi_detector`` node, built from ``NodeConfig``'s field metadata."""
from __future__ import annotations

import dataclasses

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def descriptor_for(f: dataclasses.Field) -> ParameterDescriptor:
    """The ParameterDescriptor of a NodeConfig field (description, range, allowed values)."""
    meta = f.metadata
    # dynamic typing: a value of the wrong type reaches NodeConfig, whose error names the parameter, the
    # expected type and an example (rclpy's own says "Wrong parameter type, expected '3' got '4'")
    d = ParameterDescriptor(name=f.name, description=meta["description"], dynamic_typing=True)
    if meta["choices"]:
        d.additional_constraints = f"one of: {', '.join(meta['choices'])}"
    if meta["lo"] is not None:
        if f.type in ("int", int):
            d.integer_range = [IntegerRange(from_value=int(meta["lo"]), to_value=int(meta["hi"]), step=0)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(meta["lo"]), to_value=float(meta["hi"]), step=0.0)]
    if not meta["runtime"]:
        d.additional_constraints = (d.additional_constraints + "; " if d.additional_constraints else "") + \
            "applied at configure (rejected while active)"
    return d
