"""The same API through boto3: typed responses, paginators, modelled exceptions."""

import datetime
import json

import pytest


def pipeline(guide_dir, name):
    doc = json.loads((guide_dir / "pipeline.json").read_text())["pipeline"]
    doc["name"] = name
    return doc


def test_boto3_parses_timestamps_and_metadata(sluice, guide_dir):
    cp = sluice.client()
    cp.create_pipeline(pipeline=pipeline(guide_dir, "Boto"), tags=[{"key": "team", "value": "core"}])
    got = cp.get_pipeline(name="Boto")
    assert isinstance(got["metadata"]["created"], datetime.datetime)
    assert got["metadata"]["pipelineArn"].endswith(":Boto")
    assert cp.list_tags_for_resource(resourceArn=got["metadata"]["pipelineArn"])["tags"] == [
        {"key": "team", "value": "core"}
    ]


def test_boto3_paginator_walks_every_pipeline(sluice, guide_dir):
    cp = sluice.client()
    names = [f"p{i:02d}" for i in range(7)]
    for n in names:
        cp.create_pipeline(pipeline=pipeline(guide_dir, n))
    pages = list(cp.get_paginator("list_pipelines").paginate(PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    assert [p["name"] for page in pages for p in page["pipelines"]] == names


def test_boto3_raises_modelled_exceptions(sluice, guide_dir):
    cp = sluice.client()
    with pytest.raises(cp.exceptions.PipelineNotFoundException):
        cp.get_pipeline(name="missing")
    cp.create_pipeline(pipeline=pipeline(guide_dir, "Twice"))
    with pytest.raises(cp.exceptions.PipelineNameInUseException):
        cp.create_pipeline(pipeline=pipeline(guide_dir, "Twice"))
    with pytest.raises(cp.exceptions.PipelineVersionNotFoundException):
        cp.get_pipeline(name="Twice", version=9)
    with pytest.raises(cp.exceptions.StageNotFoundException):
        cp.enable_stage_transition(pipelineName="Twice", stageName="Nope", transitionType="Inbound")
    with pytest.raises(cp.exceptions.InvalidNextTokenException):
        cp.list_pipelines(nextToken="forged-token")
    bad = pipeline(guide_dir, "Bad")
    bad["stages"][1]["actions"][0]["configuration"].pop("ApplicationName")
    with pytest.raises(cp.exceptions.InvalidActionDeclarationException):
        cp.create_pipeline(pipeline=bad)


def test_boto3_list_action_types_includes_the_catalog(sluice):
    cp = sluice.client()
    types = cp.list_action_types()["actionTypes"]
    providers = {(t["id"]["category"], t["id"]["provider"]) for t in types}
    for expected in [("Source", "S3"), ("Source", "CodeCommit"), ("Source", "GitHub"), ("Approval", "Manual"),
                     ("Deploy", "CodeDeploy"), ("Deploy", "ElasticBeanstalk"), ("Deploy", "OpsWorks"),
                     ("Invoke", "Lambda")]:
        assert expected in providers
