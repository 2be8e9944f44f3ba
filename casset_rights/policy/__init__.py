"""The policy engine: parse, validate, compile, authorize (the cedar-style split).

* ``validate`` (static, off the request path) reports every error and warning, located.
* ``load_policy`` / ``parse`` give a ``Policy`` model or raise PolicyInvalid.
* ``compile_policy`` turns a policy into look-up tables once.
* ``authorize(chain, request)`` decides: default deny, a deny at any level wins, else the
  most specific level that speaks decides; a failing rule is skipped and reported.

* ``check_files`` / ``test_files`` / ``run_policy_tests`` back ``casset-rights policy
  check|test`` (import them into pytest modules through the module, not by name: pytest
  would collect ``test_files``).

See docs/policy-language.md for the language and the exact decision semantics.
"""

from casset_rights.policy.authorizer import authorize
from casset_rights.policy.compiler import CompiledPolicy, compile_policy
from casset_rights.policy.decision import (
    Decision,
    LicenseRoute,
    Money,
    Obligation,
    Reason,
    RuleError,
)
from casset_rights.policy.model import (
    OBLIGATION_TYPES,
    PURPOSES,
    ROUTE_TYPES,
    AudienceMatch,
    Conditions,
    ExcerptCondition,
    Policy,
    PolicyTest,
    PolicyTestPrincipal,
    PolicyTestRequest,
    Price,
    Route,
    Rule,
    TerritoryCondition,
    TimeWindow,
    serialize,
)
from casset_rights.policy.request import (
    CONTEXT_KEYS,
    Context,
    Request,
    build_request,
    known_context,
    parse_context,
)
from casset_rights.policy.scopes import SCOPES, TRAVELLING_SCOPES, check_scope
from casset_rights.policy.testing import (
    PolicyTestReport,
    PolicyTestResult,
    check_files,
    run_policy_tests,
    test_files,
)
from casset_rights.policy.validator import ValidationReport, load_policy, parse, validate
from casset_rights.resources import LEVELS, ResourceRef, parse_resource

__all__ = [
    "CONTEXT_KEYS", "LEVELS", "OBLIGATION_TYPES", "PURPOSES", "ROUTE_TYPES", "SCOPES",
    "TRAVELLING_SCOPES",
    "AudienceMatch", "CompiledPolicy", "Conditions", "Context", "Decision", "ExcerptCondition",
    "LicenseRoute", "Money", "Obligation", "Policy", "PolicyTest", "PolicyTestPrincipal",
    "PolicyTestReport", "PolicyTestRequest", "PolicyTestResult", "Price", "Reason", "Request",
    "ResourceRef", "Route", "Rule", "RuleError", "TerritoryCondition", "TimeWindow",
    "ValidationReport", "authorize", "build_request", "check_files", "check_scope",
    "compile_policy", "known_context", "load_policy", "parse", "parse_context", "parse_resource",
    "run_policy_tests", "serialize", "test_files", "validate",
]
