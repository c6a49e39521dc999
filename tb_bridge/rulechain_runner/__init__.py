"""The stand-in's rule engine: runs our bundled ThingsBoard rule chains node by node.

Only the node types we ship are implemented, with ThingsBoard's relation names, message types, metadata
and failure relations; a node type or configuration key it does not know is an error, never a silent pass.
TBEL/JS scripts run in an embedded JavaScript engine (QuickJS, PyPI package ``quickjs``): our scripts
are written in the subset of TBEL that is also valid JavaScript.
"""
from tb_bridge.rulechain_runner.chain import Connection, RuleChain, RuleChainError, RuleNodeSpec, load_rule_chain
from tb_bridge.rulechain_runner.engine import Outputs, RecordingOutputs, RuleEngine, Step
from tb_bridge.rulechain_runner.scripts import ScriptError, TbScript

__all__ = [
    "Connection", "Outputs", "RecordingOutputs", "RuleChain", "RuleChainError", "RuleEngine", "RuleNodeSpec",
    "ScriptError", "Step", "TbScript", "load_rule_chain",
]
