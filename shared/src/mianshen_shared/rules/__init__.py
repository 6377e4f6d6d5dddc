"""The policy rule engine: policy documents (YAML, checked by
policies/schema/policy.schema.json) compiled once and evaluated against an
enterprise's department records. Policies are data, not code."""

from mianshen_shared.rules.engine import CompiledPolicy, assess, compile_policy, evaluate, run_cases
from mianshen_shared.rules.loader import load_policy_dir, load_policy_file
from mianshen_shared.rules.model import (
    Assessment,
    Award,
    Check,
    Fact,
    PolicyEvaluationError,
    PolicyInvalid,
    PriorAward,
)

__all__ = [
    "Assessment",
    "Award",
    "Check",
    "CompiledPolicy",
    "Fact",
    "PolicyEvaluationError",
    "PolicyInvalid",
    "PriorAward",
    "assess",
    "compile_policy",
    "evaluate",
    "load_policy_dir",
    "load_policy_file",
    "run_cases",
]
