"""The policy rule engine: policy documents (YAML, checked by
policies/schema/policy.schema.json) compiled once and evaluated against an
enterprise's department records. Policies are data, not code."""

from mianshen_shared.rules.engine import CompiledPolicy, compile_policy, evaluate
from mianshen_shared.rules.loader import load_policy_dir, load_policy_file
from mianshen_shared.rules.model import Award, Fact, PolicyEvaluationError, PolicyInvalid

__all__ = [
    "Award",
    "CompiledPolicy",
    "Fact",
    "PolicyEvaluationError",
    "PolicyInvalid",
    "compile_policy",
    "evaluate",
    "load_policy_dir",
    "load_policy_file",
]
