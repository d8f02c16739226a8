"""Triage rules and engine: each scenario, the default, region and industry matching, explanations, the CLI."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ops.cli import main as hub
from processors.triage import cli
from processors.triage.engine import Subject, explain
from processors.triage.rules import RuleSet, load_rules

RULES = load_rules()


def decide(text: str, code: str = "0199", region: str = "330106", source: str = "complaint",
           kind: str | None = "report", industry: str | None = None):
    return explain(RULES, Subject(source, "T", text, code, region, kind, None, industry))


@pytest.mark.parametrize("text, code, region, rule, form, depts", [
    ("举报某店销售假冒耐克鞋", "0101", "330203", "counterfeit", "lead", ["330203SCJ"]),
    ("某店注射玻尿酸无资质", "0103", "330203", "medical-beauty", "joint_task", ["330203WJW", "330203SCJ"]),
    ("某店注射玻尿酸无资质", "0103", "330106", "medical-beauty-hangzhou", "joint_task", ["330100WJW", "330100SCJ"]),
    ("屋顶违规搭建彩钢棚", "0102", "330108", "illegal-construction", "inspection_task", ["330108ZHZF"]),
    ("工地夜间打桩扰民", "0104", "330110", "construction-site", "inspection_task", ["330110ZHZF"]),
    ("预付卡余额未退", "0106", "330302", "default", "inspection_task", ["330302SCJ"]),
])
def test_each_scenario_and_the_default(text, code, region, rule, form, depts):
    d = explain(RULES, Subject("complaint", "T", text, code, region, "report"))
    assert (d.rule.id, d.form, [x["code"] for x in d.departments]) == (rule, form, depts)


def test_category_alone_keyword_alone_and_source_qualified_codes():
    assert decide("内容未写明", code="0101").rule.id == "counterfeit"
    assert decide("卖山寨手机", code="0199").rule.id == "counterfeit"
    # "grassroots:02" applies to grid events only; complaint category 02 means nothing here
    assert explain(RULES, Subject("grassroots", "E", "巡查", "02", "330281")).rule.id == "illegal-construction"
    assert decide("巡查", code="02").rule.id == "default"


def test_negative_keyword_vetoes_a_rule_and_falls_through():
    d = decide("咨询怎么辨别假冒商品", code="0101")
    assert d.rule.id == "default"
    assert "counterfeit: negative keyword: 咨询" in d.considered
    # construction-site excludes illegal-building texts, which go to their own rule instead
    assert decide("工地违建", code="0199").rule.id == "illegal-construction"


def test_region_subtree_selects_the_city_task_force():
    assert decide("医美", region="330106").rule.id == "medical-beauty-hangzhou"  # Xihu under Hangzhou
    assert decide("医美", region="330100").rule.id == "medical-beauty-hangzhou"  # the city itself
    assert decide("医美", region="330203").rule.id == "medical-beauty"          # Ningbo: county level
    assert [x["code"] for x in decide("医美", region="330000").departments] == ["330000WJW", "330000SCJ"]


def test_industry_prefix_of_the_target_entity():
    d = decide("收费不透明", industry="Q8415001", region="330203")
    assert d.rule.id == "medical-beauty" and d.reasons == ("industry Q8415001 (prefix Q8415)",)
    assert decide("收费不透明", industry="E4710", region="330203").rule.id == "construction-site"
    assert decide("收费不透明", industry="F5211", region="330203").rule.id == "default"


def test_priority_then_file_order_and_signals_all():
    base = {"form": "lead", "departments": [{"code": "D1", "name": "d"}]}
    rs = RuleSet.model_validate({"version": "t", "rules": [
        {"id": "late", "name": "n", "priority": 5, "keywords": {"any": ["x"]}, **base},
        {"id": "both", "name": "n", "priority": 1, "signals": "all", "keywords": {"any": ["x"]},
         "category_codes": ["C"], **base},
        {"id": "dflt", "name": "n", "default": True, **base}]})
    assert explain(rs, Subject("complaint", "T", "x", "C")).rule.id == "both"
    miss = explain(rs, Subject("complaint", "T", "x", "Z"))
    assert miss.rule.id == "late" and miss.considered == ("both: not every signal matched",)
    assert explain(rs, Subject("complaint", "T", "y", "C")).rule.id == "dflt"


@pytest.mark.parametrize("bad, message", [
    ({"rules": [{"id": "a", "name": "n", "form": "lead", "departments": [{"code": "D"}]}]}, "no signal"),
    ({"rules": [{"id": "d", "name": "n", "default": True, "form": "lead", "departments": [{"code": "D"}],
                 "keywords": {"any": ["x"]}}]}, "must state no conditions"),
    ({"rules": [{"id": "d", "name": "n", "default": True, "form": "lead", "departments": [{"domain": "NOPE"}]}]},
     "unknown enforcement domain"),
    ({"rules": [{"id": "d", "name": "n", "default": True, "form": "joint_task", "departments": [{"code": "D"}]}]},
     "at least two departments"),
    ({"rules": [{"id": "d", "name": "n", "default": True, "form": "lead", "departments": [{"code": "D"}],
                 "colour": "red"}]}, "Extra inputs"),
    ({"rules": [{"id": "a", "name": "n", "form": "lead", "departments": [{"code": "D"}],
                 "keywords": {"any": ["x"]}}]}, "exactly one default"),
])
def test_invalid_rule_sets_are_refused_in_plain_words(bad, message):
    with pytest.raises(ValidationError, match=message):
        RuleSet.model_validate({"version": "t", **bad})


def test_cli_runs_the_shipped_samples(capsys):
    assert hub(["rules", "test", str(cli.SAMPLES)]) == 0
    out = capsys.readouterr().out
    assert "[0] complaint S-0101: rule counterfeit -> lead  ok" in out
    assert "why: keyword any: 冒充, 贴牌; category 0101 (complaint:0101)" in out
    assert "departments: 330106SCJ 西湖区市场监督管理局" in out
    assert "skipped counterfeit: negative keyword: 咨询" in out
    assert "MISMATCH" not in out


def test_cli_json_and_mismatch_exit_code(tmp_path, capsys):
    samples = tmp_path / "s.json"
    samples.write_text(json.dumps([{"topic": "grassroots.events", "expect": "counterfeit",
                                    "record": {"event_id": "E1", "category": {"code": "02", "name": "违法建设"},
                                               "region_code": "330281", "description": "违章搭建"}}]))
    assert hub(["rules", "test", str(samples), "--json"]) == 1
    [result] = json.loads(capsys.readouterr().out)
    assert result["rule"] == "illegal-construction" and result["ok"] is False
    assert result["departments"] == [{"code": "330281ZHZF", "name": "余姚市综合行政执法局"}]
    broken = tmp_path / "r.json"
    broken.write_text(json.dumps({"version": "x", "rules": []}))
    assert hub(["rules", "test", str(samples), "--rules", str(broken)]) == 2
    assert "invalid rule set" in capsys.readouterr().err
