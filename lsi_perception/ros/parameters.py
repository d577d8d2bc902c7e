"""The ``lsi_detector`` node's ROS parameters: declared from ``NodeConfig``'s field metadata, read back
into a validated ``NodeConfig``, and changes checked (runtime knobs at once, the rest only while not
active). What the parameters mean and their defaults: ``node_logic.node_config``."""
from __future__ import annotations

import dataclasses

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from lsi_perception.node_logic.node_config import (
    REMOVED_TOPIC_PARAMETERS,
    NodeConfig,
    coerce_parameters,
    parameter_fields,
    runtime_parameters,
)


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


def declare(node: Node) -> None:
    """Declare one parameter per NodeConfig field, with its default and descriptor."""
    defaults = NodeConfig()
    for f in parameter_fields():
        value = getattr(defaults, f.name)
        node.declare_parameter(f.name, list(value) if isinstance(value, tuple) else value, descriptor_for(f))


def read_config(node: Node) -> NodeConfig:
    """The node's parameters as a validated NodeConfig (ValueError naming a bad parameter)."""
    cfg = NodeConfig(**coerce_parameters({f.name: node.get_parameter(f.name).value for f in parameter_fields()}))
    cfg.validate()
    return cfg


def warn_removed_topic_parameters(node: Node) -> None:
    """rgb_topic / thermal_topic were parameters; topics are now chosen by remapping only. A params file
    or -p still giving them would otherwise be ignored silently."""
    overrides = getattr(node, "_parameter_overrides", {})  # rclpy: params-file and -p values for this node
    for name, topic in REMOVED_TOPIC_PARAMETERS.items():
        if name in overrides:
            value = overrides[name].value
            node.get_logger().warning(
                f"parameter {name}:={value} is ignored: input topics are chosen by remapping. Use "
                f"--ros-args -r {topic}:={value} (launch file: {name}:={value}) and drop {name} from the "
                "params file or command line")


def check_change(config: NodeConfig, params: list[Parameter], active: bool
                 ) -> tuple[SetParametersResult, NodeConfig | None]:
    """The answer to a parameter change and the config it gives (None: rejected, or none of ours)."""
    ours = {p.name: p.value for p in params if p.name in {f.name for f in parameter_fields()}}
    if not ours:
        return SetParametersResult(successful=True), None
    frozen = sorted(set(ours) - runtime_parameters())
    if frozen and active:
        return SetParametersResult(
            successful=False,
            reason=f"{', '.join(frozen)} can only change while the node is not active "
                   "(deactivate and cleanup, set it, then configure and activate)"), None
    try:
        new = config.replace(**coerce_parameters(ours))
    except (ValueError, TypeError) as exc:
        return SetParametersResult(successful=False, reason=str(exc)), None
    return SetParametersResult(successful=True), new
