"""The dashboards and alert rules in deploy/observability cannot be run here; what
can be checked is that every series they query is one the services export, with
labels those metrics have, and that the files have the shape Grafana and
Prometheus load. A dashboard that names a metric nobody exports shows an empty
panel and an alert on it never fires: both fail silently, so they fail here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

from mianshen_shared import observability
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.events.catalog import EntitlementDetermined
from mianshen_shared.stack import DEFAULT_PORTS, SERVICES

pytestmark = pytest.mark.unit

OBSERVABILITY = REPO_ROOT / "deploy" / "observability"
DASHBOARD_DIR = OBSERVABILITY / "grafana" / "dashboards"
PROMETHEUS_DIR = OBSERVABILITY / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "rules" / "mianshen.rules.yml"
RUNBOOK = REPO_ROOT / "docs" / "operations.md"

PLATFORM_JOBS = {"gateway", *SERVICES}
# Labels Prometheus attaches to every scraped series (locally and in Kubernetes).
TARGET_LABELS = {"job", "instance", "namespace", "pod"}
RUNBOOK_ANCHORS = {
    "consumer-lag",
    "outbox-stuck",
    "dead-letters",
    "payment-failures",
    "budget",
    "feed-late",
    "service-down",
}
SEVERITIES = {"warning", "critical"}

# --- a PromQL reader, just enough to find the series and labels an expression uses ----

FUNCTIONS = {
    # aggregation operators
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor", "histogram_count",
    "histogram_fraction", "histogram_quantile", "histogram_sum", "holt_winters", "hour", "idelta", "increase",
    "irate", "label_join", "label_replace", "ln", "log2", "log10", "minute", "month", "predict_linear", "rate",
    "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "time", "timestamp", "vector", "year",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "quantile_over_time",
    "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
    # the @ modifier's anchors
    "start", "end",
}  # fmt: skip
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = LABEL_LISTS | {"and", "or", "unless", "bool", "offset", "inf", "nan"}
# Functions whose argument (a string) names a label they create.
LABEL_MAKERS = {"count_values": 0, "label_replace": 1, "label_join": 1}

TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<variable>\$(?:\{[^}]*\}|\w+))
  | (?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*\b)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<identifier>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<operator>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@])
    """,
    re.VERBOSE,
)
# Grafana's template query `label_values(selector, label)` is the PromQL `group by (label) (selector)`.
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+),)?\s*(?P<label>\w+)\s*\)\s*$", re.DOTALL)


@dataclass
class Selector:
    name: str
    matchers: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (operator, value)


@dataclass
class Reading:
    selectors: list[Selector] = field(default_factory=list)
    grouping_labels: set[str] = field(default_factory=set)
    created_labels: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot read PromQL at {expr[pos : pos + 20]!r} in {expr!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            tokens.append((kind, match.group()))
    return tokens


def read_promql(expr: str) -> Reading:
    """The series selectors, grouping labels and created labels of one expression."""
    if grafana := LABEL_VALUES.match(expr):
        selector = grafana["selector"] or ""
        reading = read_promql(selector) if selector else Reading()
        reading.grouping_labels.add(grafana["label"])
        return reading
    tokens = tokenize(expr)
    reading = Reading()
    # Calls still open: (function name, paren depth inside it, index of the argument being read).
    calls: list[list[Any]] = []
    depth = 0
    current: Selector | None = None
    in_braces = in_brackets = False
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if in_brackets:
            in_brackets = text != "]"
        elif in_braces:
            if text == "}":
                in_braces = False
            elif kind == "identifier":
                operator, value = following, tokens[i + 2][1]
                assert current is not None, f"label matcher outside a selector in {expr!r}"
                current.matchers[text] = (operator, value[1:-1])
                i += 2
        elif text == "[":
            in_brackets = True
        elif text == "{":
            in_braces = True
            if current is None:  # a selector with no metric name
                current = Selector("")
                reading.selectors.append(current)
        elif text == "(":
            depth += 1
        elif text == ")":
            if calls and calls[-1][1] == depth:
                calls.pop()
            depth -= 1
        elif text == "," and calls and calls[-1][1] == depth:
            calls[-1][2] += 1
        elif kind == "string" and calls and calls[-1][1] == depth:
            name, _, argument = calls[-1]
            if LABEL_MAKERS.get(name) == argument:
                reading.created_labels.add(text[1:-1])
        elif kind == "identifier" and text.lower() in KEYWORDS:
            if text in LABEL_LISTS and following == "(":
                close = next(j for j in range(i, len(tokens)) if tokens[j][1] == ")")
                reading.grouping_labels.update(t for k, t in tokens[i + 2 : close] if k == "identifier")
                i = close
        elif kind == "identifier" and (following == "(" or following in ("by", "without")):
            reading.functions.add(text)
            calls.append([text, depth + 1, 0])
        elif kind == "identifier":
            current = Selector(text)
            reading.selectors.append(current)
            i += 1
            continue
        if not in_braces:
            current = None
        i += 1
    return reading


# --- what the services export ------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    metric: MetricWrapperBase
    suffix: str

    @property
    def labels(self) -> set[str]:
        names = set(self.metric._labelnames)
        return names | {"le"} if self.suffix == "_bucket" else names


def exported_series() -> dict[str, Exported]:
    """Series name -> the metric that produces it, for every metric in the contract."""
    metrics = [m for m in vars(observability).values() if isinstance(m, MetricWrapperBase)]
    series: dict[str, Exported] = {}
    for metric in metrics:
        base = metric._name
        if isinstance(metric, Counter):
            suffixes = ["_total"]
        elif isinstance(metric, Histogram):
            suffixes = ["_bucket", "_sum", "_count"]
        else:
            suffixes = [""]
        declared = f"{base}_total" if isinstance(metric, Counter) else base
        if declared in observability.CONTRACT_METRICS:
            for suffix in suffixes:
                series[base + suffix] = Exported(metric, suffix)
    return series


EXPORTED = exported_series()


def documented_values(metric: MetricWrapperBase, label: str) -> set[str]:
    """The values a label may take, as the metric's help text (or the event contract) lists them."""
    if metric is observability.DETERMINATIONS and label == "change":
        return set(get_args(EntitlementDetermined.model_fields["change"].annotation))
    help_text = metric._documentation
    if label == "step":  # "notify (determined → requested), confirm (…)"
        return set(re.findall(r"\b([a-z_]+) \(", help_text))
    # "… by policy and outcome (submitted, succeeded, failed)"
    return {word for listed in re.findall(r"\(([a-z_, ]+)\)", help_text) for word in listed.split(", ")}


# --- the files ---------------------------------------------------------------------------


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text("utf-8")) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def load_rules() -> dict[str, Any]:
    return yaml.safe_load(RULES_FILE.read_text("utf-8"))  # type: ignore[no-any-return]


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(all_panels(panel.get("panels", [])))
    return found


def variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    return query["query"] if isinstance(query, dict) else str(query)


def dashboard_expressions() -> list[tuple[str, str]]:
    found = []
    for name, board in DASHBOARDS.items():
        for panel in all_panels(board["panels"]):
            for target in panel.get("targets", []):
                found.append((f"{name} panel {panel['id']} {target['refId']}", target["expr"]))
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                found.append((f"{name} ${variable['name']}", variable_query(variable)))
    return found


def rule_expressions() -> list[tuple[str, str]]:
    return [
        (f"rule {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in RULES["groups"]
        for rule in group["rules"]
    ]


DASHBOARDS = load_dashboards()
RULES = load_rules()
ALERTS = {rule["alert"]: rule for group in RULES["groups"] for rule in group["rules"] if "alert" in rule}
RECORDED = {rule["record"]: rule["expr"] for group in RULES["groups"] for rule in group["rules"] if "record" in rule}
EXPRESSIONS = dashboard_expressions() + rule_expressions()


def labels_of(name: str) -> set[str]:
    """Labels a series may carry: its metric's, or for a recorded series those of what it records."""
    if name == "up":
        return set(TARGET_LABELS)
    if name in RECORDED:
        reading = read_promql(RECORDED[name])
        return reading.created_labels.union(*(labels_of(s.name) for s in reading.selectors))
    return EXPORTED[name].labels | TARGET_LABELS


# --- the reader itself -------------------------------------------------------------------


def test_the_reader_finds_metrics_and_not_functions_keywords_labels_or_variables() -> None:
    reading = read_promql(
        "histogram_quantile(0.9, sum by (step, le) "
        '(increase(mianshen_funnel_step_seconds_bucket{policy_id=~"$policy_id"}[$__range])))'
        " / on (policy_id) group_left mianshen_budget_fen offset 1d\n"
        'and on() count_values("fiscal_year", year(vector(time() + 8 * 3600))) > bool 0.9 unless absent(up)'
    )
    assert [s.name for s in reading.selectors] == ["mianshen_funnel_step_seconds_bucket", "mianshen_budget_fen", "up"]
    assert reading.selectors[0].matchers == {"policy_id": ("=~", "$policy_id")}
    assert reading.grouping_labels == {"step", "le", "policy_id"}
    assert reading.created_labels == {"fiscal_year"}
    assert {"histogram_quantile", "sum", "increase", "count_values", "year", "vector", "time", "absent"} == (
        reading.functions
    )


def test_the_reader_reads_a_grafana_label_values_query_as_a_selector_and_a_label() -> None:
    reading = read_promql('label_values(mianshen_payments_total{outcome="failed"}, policy_id)')
    assert [(s.name, s.matchers) for s in reading.selectors] == [
        ("mianshen_payments_total", {"outcome": ("=", "failed")})
    ]
    assert reading.grouping_labels == {"policy_id"}


def test_the_contract_check_would_catch_a_misspelt_metric() -> None:
    reading = read_promql('sum(rate(mianshen_payment_total{outcome="failed"}[5m]))')
    assert [s.name for s in reading.selectors] == ["mianshen_payment_total"]
    assert "mianshen_payment_total" not in EXPORTED
    assert "mianshen_payments_total" in EXPORTED


def test_the_exported_series_are_the_contract_series() -> None:
    assert set(EXPORTED) == observability.CONTRACT_SERIES


# --- every expression against the contract -----------------------------------------------


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_every_series_queried_is_one_the_services_export(where: str, expr: str) -> None:
    reading = read_promql(expr)
    assert reading.selectors, f"{where} queries no series"
    for selector in reading.selectors:
        known = selector.name in EXPORTED or selector.name in RECORDED or selector.name == "up"
        assert known, f"{where} queries {selector.name!r}, which no service exports"


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_every_label_matched_or_grouped_on_is_one_the_series_has(where: str, expr: str) -> None:
    reading = read_promql(expr)
    available = reading.created_labels.union(*(labels_of(s.name) for s in reading.selectors))
    for selector in reading.selectors:
        unknown = set(selector.matchers) - labels_of(selector.name)
        assert not unknown, f"{where} matches {selector.name} on labels it does not have: {unknown}"
    assert reading.grouping_labels <= available, f"{where} groups by {reading.grouping_labels - available}"
    assert reading.functions <= FUNCTIONS | {"label_values"}, f"{where} calls {reading.functions - FUNCTIONS}"


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_every_outcome_step_or_change_matched_is_a_value_the_metric_documents(where: str, expr: str) -> None:
    for selector in read_promql(expr).selectors:
        if selector.name not in EXPORTED:
            continue
        metric = EXPORTED[selector.name].metric
        for label, (operator, value) in selector.matchers.items():
            if label not in ("outcome", "step", "change") or operator not in ("=", "=~"):
                continue
            values = set(value.split("|")) if operator == "=~" else {value}
            assert values <= documented_values(metric, label), (
                f"{where}: {selector.name}{{{label}}} never takes {values - documented_values(metric, label)}"
            )


def test_every_contract_metric_is_watched_by_a_dashboard_or_an_alert() -> None:
    used = {s.name for _, expr in EXPRESSIONS for s in read_promql(expr).selectors}
    watched = {EXPORTED[name].metric._name for name in used if name in EXPORTED}
    assert {e.metric._name for e in EXPORTED.values()} == watched


# --- dashboards --------------------------------------------------------------------------


def test_there_are_the_platform_health_funnel_and_money_dashboards() -> None:
    assert {"platform-health.json", "funnel.json", "money.json"} <= set(DASHBOARDS)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_each_dashboard_has_a_title_a_uid_and_unique_panel_ids(name: str) -> None:
    board = DASHBOARDS[name]
    assert board["title"] and board["uid"].startswith("mianshen-")
    assert board["schemaVersion"] >= 36
    ids = [panel["id"] for panel in all_panels(board["panels"])]
    assert len(ids) == len(set(ids))
    assert all(panel.get("title") for panel in all_panels(board["panels"]))


def test_dashboard_uids_are_unique() -> None:
    uids = [board["uid"] for board in DASHBOARDS.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_each_panel_reads_through_the_datasource_variable(name: str) -> None:
    board = DASHBOARDS[name]
    [variable] = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for panel in all_panels(board["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        assert all(target["datasource"]["uid"] == "${datasource}" for target in panel["targets"]), panel["title"]


@pytest.mark.parametrize("name", ["funnel.json", "money.json"])
def test_funnel_and_money_are_filtered_by_the_policy_variable_in_every_query(name: str) -> None:
    board = DASHBOARDS[name]
    [variable] = [v for v in board["templating"]["list"] if v["name"] == "policy_id"]
    assert variable_query(variable) == "label_values(mianshen_determinations_total, policy_id)"
    for panel in all_panels(board["panels"]):
        for target in panel.get("targets", []):
            for selector in read_promql(target["expr"]).selectors:
                assert selector.matchers.get("policy_id") == ("=~", "$policy_id"), f"{panel['title']}: {selector}"


def test_the_funnel_says_which_step_stands_in_for_the_public_notice() -> None:
    funnel = all_panels(DASHBOARDS["funnel.json"]["panels"])
    [bars] = [panel for panel in funnel if panel["title"] == "免申即享漏斗"]
    steps = [read_promql(target["expr"]).selectors[0] for target in bars["targets"]]
    assert [
        (s.name, s.matchers.get("change") or s.matchers.get("outcome") or s.matchers.get("step")) for s in steps
    ] == [
        ("mianshen_determinations_total", ("=", "new")),
        ("mianshen_confirmations_total", ("=", "requested")),
        ("mianshen_confirmations_total", ("=", "accepted")),
        ("mianshen_funnel_step_seconds_count", ("=", "credit")),
        ("mianshen_payments_total", ("=", "succeeded")),
    ]
    assert "公示" in bars["description"] and "credit" in bars["description"]


AMOUNTS_IN_FEN = {
    "mianshen_paid_amount_fen_total",
    "mianshen_budget_fen",
    "mianshen_budget_spent_fen",
    "mianshen_determined_amount_fen_total",
}
BURN_RATIOS = (
    {"mianshen_paid_amount_fen_total", "mianshen_budget_fen"},
    {"mianshen_budget_spent_fen", "mianshen_budget_fen"},
)


def test_money_is_shown_in_yuan_from_fen() -> None:
    for panel in all_panels(DASHBOARDS["money.json"]["panels"]):
        for target in panel.get("targets", []):
            amounts = {s.name for s in read_promql(target["expr"]).selectors} & AMOUNTS_IN_FEN
            is_burn_ratio = amounts in BURN_RATIOS
            if amounts and not is_burn_ratio:
                assert target["expr"].rstrip().endswith("/ 100"), f"{panel['title']}: {target['expr']}"


def test_grafana_provisioning_loads_the_dashboards_from_one_folder_and_a_prometheus_source() -> None:
    provisioning = OBSERVABILITY / "grafana" / "provisioning"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "mianshen.yaml").read_text("utf-8"))["providers"]
    assert provider["type"] == "file" and Path(provider["options"]["path"]).is_absolute()
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text("utf-8"))["datasources"]
    assert source["type"] == "prometheus"


# --- rules -------------------------------------------------------------------------------


def test_the_rule_file_has_the_prometheus_shape() -> None:
    assert set(RULES) == {"groups"}
    names = [group["name"] for group in RULES["groups"]]
    assert len(names) == len(set(names))
    for group in RULES["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        for rule in group["rules"]:
            assert ("alert" in rule) != ("record" in rule), rule
            if "alert" in rule:
                assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule
            else:
                assert set(rule) <= {"record", "expr", "labels"}, rule
            assert isinstance(rule["expr"], str) and rule["expr"].strip()


def test_recorded_series_follow_the_level_metric_operation_naming() -> None:
    for name in RECORDED:
        level, metric, operation = name.split(":")
        assert metric in {e.metric._name for e in EXPORTED.values()} and level and operation


def test_the_issue_alerts_all_exist() -> None:
    assert {
        "MianshenConsumerLagGrowing",
        "MianshenOutboxStuck",
        "MianshenDeadLetters",
        "MianshenPaymentFailures",
        "MianshenBudgetNearlyExhausted",
        "MianshenFeedLate",
        "MianshenServiceDown",
    } <= set(ALERTS)


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_each_alert_waits_has_a_severity_and_chinese_annotations(name: str) -> None:
    rule = ALERTS[name]
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["labels"]["severity"] in SEVERITIES
    for key in ("summary", "description"):
        assert re.search(r"[\u4e00-\u9fff]", rule["annotations"][key]), f"{name} {key} is not in Chinese"


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_each_alert_links_to_a_runbook_section_that_exists(name: str) -> None:
    url = ALERTS[name]["annotations"]["runbook_url"]
    page, anchor = url.split("#")
    assert page == "docs/operations.md" and anchor in RUNBOOK_ANCHORS
    assert f'<a id="{anchor}"></a>' in RUNBOOK.read_text("utf-8")


def test_the_service_down_alert_watches_exactly_the_scraped_jobs() -> None:
    [selector] = read_promql(ALERTS["MianshenServiceDown"]["expr"]).selectors
    operator, regex = selector.matchers["job"]
    assert operator == "=~"
    assert set(regex.split("|")) == PLATFORM_JOBS == set(scrape_jobs())


# --- Prometheus configuration --------------------------------------------------------------


def scrape_jobs() -> dict[str, list[str]]:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text("utf-8"))
    return {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }


def test_the_local_prometheus_scrapes_every_service_on_its_local_port() -> None:
    assert scrape_jobs() == {name: [f"127.0.0.1:{DEFAULT_PORTS[name]}"] for name in PLATFORM_JOBS}


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.k8s.yml"])
def test_both_prometheus_configurations_load_the_rules(config: str) -> None:
    rule_files = yaml.safe_load((PROMETHEUS_DIR / config).read_text("utf-8"))["rule_files"]
    assert [(PROMETHEUS_DIR / f).resolve() for f in rule_files] == [RULES_FILE.resolve()]


def test_the_cluster_prometheus_keeps_the_server_pods_the_network_policy_lets_it_reach() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.k8s.yml").read_text("utf-8"))
    [job] = config["scrape_configs"]
    [discovery] = job["kubernetes_sd_configs"]
    kept = {
        rule["source_labels"][0].removeprefix("__meta_kubernetes_pod_label_"): rule["regex"]
        for rule in job["relabel_configs"]
        if rule.get("action") == "keep"
    }
    job_label = [rule for rule in job["relabel_configs"] if rule.get("target_label") == "job"]
    assert job_label[0]["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]

    policies = yaml.safe_load_all(
        (REPO_ROOT / "deploy" / "k8s" / "base" / "infra" / "network-policies.yaml").read_text("utf-8")
    )
    [scrape] = [p for p in policies if p and p["metadata"]["name"] == "allow-prometheus-scrape"]
    assert discovery["namespaces"]["names"] == [scrape["metadata"]["namespace"]]
    for label, value in scrape["spec"]["podSelector"]["matchLabels"].items():
        assert kept[re.sub(r"[./-]", "_", label)] == value
    assert kept["__meta_kubernetes_pod_container_port_name"] == "http"


# --- promtool, when this machine has it ----------------------------------------------------

PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package `prometheus`)")
@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", str(RULES_FILE)],
        ["check", "config", str(PROMETHEUS_DIR / "prometheus.yml")],
        ["test", "rules", str(PROMETHEUS_DIR / "tests" / "mianshen.rules.test.yml")],
    ],
    ids=["check rules", "check config", "rule unit tests"],
)
def test_promtool_accepts_the_rules_and_their_unit_tests(args: list[str]) -> None:
    result = subprocess.run([PROMTOOL or "promtool", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# What Grafana puts in place of its variables, for promtool to parse the queries.
GRAFANA_SUBSTITUTES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$policy_id": ".*",
    "$service": ".*",
    "$department": ".*",
    "$fiscal_year": "2025",
}


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package `prometheus`)")
def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    cases = []
    for where, expr in dashboard_expressions():
        if LABEL_VALUES.match(expr):
            continue
        for variable, value in GRAFANA_SUBSTITUTES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{where} uses a variable the dashboards do not define"
        # Nothing is stored, so every query must come back empty rather than fail to parse.
        cases.append({"expr": expr, "eval_time": "1m", "exp_samples": []})
    suite = {"rule_files": [], "tests": [{"interval": "1m", "input_series": [], "promql_expr_test": cases}]}
    test_file = tmp_path / "dashboards.test.yml"
    test_file.write_text(yaml.safe_dump(suite, allow_unicode=True), "utf-8")
    result = subprocess.run([PROMTOOL or "promtool", "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
